// UTF-8 handling and the Unicode properties the tokenizer components need, defined the way Hugging
// Face's Rust `tokenizers` defines them (Rust `char` methods, the `regex` crate's \w), on top of ICU.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace vkllm::frontends::unicode {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence, or npos.
size_t find_invalid_utf8(std::string_view s);
// Decodes the code point starting at s[i] and advances i past it. `s` must be valid UTF-8.
char32_t next_code_point(std::string_view s, size_t& i);
// Byte length of the UTF-8 sequence that starts with `lead` (1 for ASCII and for stray bytes).
size_t sequence_length(unsigned char lead);
void append_utf8(std::string& out, char32_t cp);
// Bytes to text the way Rust's String::from_utf8_lossy (and the WHATWG decoder) do it: every
// maximal invalid subsequence becomes one U+FFFD.
std::string from_utf8_lossy(std::string_view bytes);

bool is_white_space(char32_t c);  // Unicode White_Space (Rust char::is_whitespace)
bool is_numeric(char32_t c);      // general category Nd, Nl or No (Rust char::is_numeric)
bool is_word_char(char32_t c);    // Alphabetic, Mark, Nd, Pc, Join_Control (Rust regex \w)

enum class NormalForm { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view s, NormalForm form);
// Each character replaced by its full lowercase mapping, without context (Rust char::to_lowercase).
std::string to_lower(std::string_view s);

}  // namespace vkllm::frontends::unicode
