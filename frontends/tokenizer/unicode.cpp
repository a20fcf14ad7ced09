#include "frontends/tokenizer/unicode.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <stdexcept>
#include <vector>

namespace vkllm::frontends::unicode {
namespace {

bool all_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// Valid range of the second byte of a sequence starting with `lead` (Unicode Table 3-7);
// {0, 0} when `lead` cannot start a multi-byte sequence.
struct ByteRange {
  unsigned char lo, hi;
};
ByteRange second_byte_range(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return {0x80, 0xBF};
  if (lead == 0xE0) return {0xA0, 0xBF};
  if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) return {0x80, 0xBF};
  if (lead == 0xED) return {0x80, 0x9F};
  if (lead == 0xF0) return {0x90, 0xBF};
  if (lead >= 0xF1 && lead <= 0xF3) return {0x80, 0xBF};
  if (lead == 0xF4) return {0x80, 0x8F};
  return {0, 0};
}

// Length of the well-formed sequence at s[i], or the length of its maximal invalid subpart
// (at least 1) negated.
long sequence_at(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) return 1;
  const ByteRange second = second_byte_range(lead);
  if (second.hi == 0) return -1;
  const size_t need = sequence_length(lead);
  size_t n = 1;
  for (; n < need && i + n < s.size(); ++n) {
    const auto b = static_cast<unsigned char>(s[i + n]);
    const bool ok = n == 1 ? (b >= second.lo && b <= second.hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
  }
  return n == need ? static_cast<long>(n) : -static_cast<long>(n);
}

std::u16string to_utf16(std::string_view s) {
  std::u16string out(s.size(), u'\0');
  int32_t len = 0;
  UErrorCode err = U_ZERO_ERROR;
  u_strFromUTF8(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &len, s.data(),
                static_cast<int32_t>(s.size()), &err);
  if (U_FAILURE(err)) throw std::invalid_argument(std::string("text is not valid UTF-8: ") + u_errorName(err));
  out.resize(static_cast<size_t>(len));
  return out;
}

std::string to_utf8(const std::u16string& s) {
  std::string out(s.size() * 3, '\0');
  int32_t len = 0;
  UErrorCode err = U_ZERO_ERROR;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &len, reinterpret_cast<const UChar*>(s.data()),
              static_cast<int32_t>(s.size()), &err);
  if (U_FAILURE(err)) throw std::runtime_error(std::string("UTF-16 to UTF-8 conversion failed: ") + u_errorName(err));
  out.resize(static_cast<size_t>(len));
  return out;
}

const UNormalizer2* normalizer_for(NormalForm form) {
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* n = nullptr;
  switch (form) {
    case NormalForm::NFC:
      n = unorm2_getNFCInstance(&err);
      break;
    case NormalForm::NFD:
      n = unorm2_getNFDInstance(&err);
      break;
    case NormalForm::NFKC:
      n = unorm2_getNFKCInstance(&err);
      break;
    case NormalForm::NFKD:
      n = unorm2_getNFKDInstance(&err);
      break;
  }
  if (U_FAILURE(err) || !n) throw std::runtime_error(std::string("ICU normalizer unavailable: ") + u_errorName(err));
  return n;
}

}  // namespace

size_t sequence_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return lead < 0xF8 ? 4 : 1;
}

size_t find_invalid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const long n = sequence_at(s, i);
    if (n < 0) return i;
    i += static_cast<size_t>(n);
  }
  return std::string_view::npos;
}

char32_t next_code_point(std::string_view s, size_t& i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const size_t n = sequence_length(lead);
  if (n == 1) {
    ++i;
    return lead;
  }
  char32_t cp = lead & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string from_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const long n = sequence_at(bytes, i);
    if (n > 0) {
      out.append(bytes.substr(i, static_cast<size_t>(n)));
      i += static_cast<size_t>(n);
    } else {
      out.append(kReplacementUtf8);
      i += static_cast<size_t>(-n);
    }
  }
  return out;
}

bool is_white_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE);
}

bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & (U_GC_ND_MASK | U_GC_NL_MASK | U_GC_NO_MASK)) != 0;
}

bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  const auto u = static_cast<UChar32>(c);
  return u_hasBinaryProperty(u, UCHAR_ALPHABETIC) || u_hasBinaryProperty(u, UCHAR_JOIN_CONTROL) ||
         (U_GET_GC_MASK(u) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}

std::string normalize(std::string_view s, NormalForm form) {
  if (all_ascii(s)) return std::string(s);  // ASCII is invariant under all four forms
  const UNormalizer2* n = normalizer_for(form);
  const std::u16string src = to_utf16(s);
  UErrorCode err = U_ZERO_ERROR;
  if (unorm2_isNormalized(n, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()), &err) &&
      U_SUCCESS(err))
    return std::string(s);
  err = U_ZERO_ERROR;
  // Decomposition grows text by a bounded factor; retry once with the exact size if it was not enough.
  std::u16string dst(src.size() * 4 + 16, u'\0');
  int32_t len = unorm2_normalize(n, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
                                 reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()), &err);
  if (err == U_BUFFER_OVERFLOW_ERROR) {
    err = U_ZERO_ERROR;
    dst.assign(static_cast<size_t>(len), u'\0');
    len = unorm2_normalize(n, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
                           reinterpret_cast<UChar*>(dst.data()), static_cast<int32_t>(dst.size()), &err);
  }
  if (U_FAILURE(err)) throw std::runtime_error(std::string("Unicode normalization failed: ") + u_errorName(err));
  dst.resize(static_cast<size_t>(len));
  return to_utf8(dst);
}

std::string to_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out += static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b);
      ++i;
      continue;
    }
    const char32_t c = next_code_point(s, i);
    if (c == 0x130) {  // the one character whose full lowercase mapping is two characters
      out += 'i';
      append_utf8(out, 0x307);
    } else {
      append_utf8(out, static_cast<char32_t>(u_tolower(static_cast<UChar32>(c))));
    }
  }
  return out;
}

}  // namespace vkllm::frontends::unicode
