// Streaming detokenization. The ids since the last commit point form a window; each push decodes
// the window and returns the part of its text no later id can change:
//  - the decoder runs twice, as if the window ended the text and as if it did not; only their
//    common prefix is final (Strip after Fuse cuts at the end of the text only);
//  - trailing U+FFFD wait: they may be the start of a character whose bytes are still coming;
//  - while the last token is a <0xHH> byte token (ByteFallback) nothing is final: the run of
//    bytes is decoded as a whole;
//  - decoders that rewrite across token boundaries after fusing hold everything until finish().
// When the whole window is final (and, for the first window, not empty, so Strip and Metaspace
// have seen the start of the text) the window is committed: later windows decode as
// continuations. transformers' clean-up of tokenization spaces then runs on the stream, releasing
// text up to points where no clean-up rule can straddle.
#include <algorithm>

#include "frontends/tokenizer/components.h"
#include "frontends/tokenizer/tokenizer.h"
#include "frontends/tokenizer/tokenizer_impl.h"
#include "frontends/tokenizer/unicode.h"

namespace vkllm::frontends {
namespace {

// Largest n <= limit at a UTF-8 character boundary of `s`.
size_t boundary_at_or_before(std::string_view s, size_t limit) {
  size_t n = std::min(limit, s.size());
  while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

}  // namespace

StreamingDecoder::StreamingDecoder(Tokenizer tokenizer, bool skip_special_tokens)
    : tokenizer_(std::move(tokenizer)), skip_special_tokens_(skip_special_tokens) {}

std::string StreamingDecoder::push(int32_t id) {
  window_.push_back(id);
  return next_chunk(false);
}

std::string StreamingDecoder::finish() {
  std::string rest = next_chunk(true);
  window_.clear();
  window_at_start_ = true;
  window_emitted_ = 0;
  return rest;
}

std::string StreamingDecoder::next_chunk(bool at_end) {
  const Tokenizer::Impl& impl = *tokenizer_.impl_;
  const std::vector<std::string> tokens = impl.tokens_for(window_, skip_special_tokens_);
  if (!at_end && (!impl.streams_locally ||
                  (impl.byte_fallback_decoder && !tokens.empty() && components::byte_token_value(tokens.back()) >= 0)))
    return {};
  const std::string closed = impl.decode_tokens(tokens, window_at_start_, true);
  size_t final_len = closed.size();
  bool whole_window_final = true;
  if (!at_end) {
    const std::string open = impl.decode_tokens(tokens, window_at_start_, false);
    final_len = static_cast<size_t>(std::mismatch(closed.begin(), closed.end(), open.begin(), open.end()).first -
                                    closed.begin());
    final_len = boundary_at_or_before(closed, final_len);
    while (final_len >= 3 && std::string_view(closed).substr(final_len - 3, 3) == unicode::kReplacementUtf8)
      final_len -= 3;
    whole_window_final = final_len == closed.size() && open.size() == closed.size();
  }
  std::string raw;
  if (final_len > window_emitted_) {
    raw = closed.substr(window_emitted_, final_len - window_emitted_);
    window_emitted_ = final_len;
  }
  if (!at_end && whole_window_final && (!window_at_start_ || !closed.empty())) {
    window_.clear();
    window_at_start_ = false;
    window_emitted_ = 0;
  }
  return clean_up_chunk(std::move(raw), at_end);
}

std::string StreamingDecoder::clean_up_chunk(std::string raw, bool at_end) {
  if (!tokenizer_.impl_->clean_up) return raw;
  cleanup_pending_ += raw;
  size_t cut = cleanup_pending_.size();
  if (!at_end) {
    // Every clean-up rule starts with a space and is at most 4 bytes long, and the rules only
    // delete spaces: a cut after 3 non-space bytes splits no match, now or after earlier rules.
    auto safe = [&](size_t n) {
      if (n < 3 || (n < cleanup_pending_.size() && (static_cast<unsigned char>(cleanup_pending_[n]) & 0xC0) == 0x80))
        return false;
      return cleanup_pending_[n - 1] != ' ' && cleanup_pending_[n - 2] != ' ' && cleanup_pending_[n - 3] != ' ';
    };
    while (cut > 0 && !safe(cut)) --cut;
  }
  std::string out = clean_up_tokenization(cleanup_pending_.substr(0, cut));
  cleanup_pending_.erase(0, cut);
  return out;
}

}  // namespace vkllm::frontends
