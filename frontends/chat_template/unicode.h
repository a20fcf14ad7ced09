// Python's view of text for the Jinja interpreter: strings are sequences of code points (len,
// slicing, find), and whitespace / case follow Python's str methods, not C's ASCII-only ones.
// Strings are stored as UTF-8; every string that reaches these helpers is valid UTF-8.
#pragma once
#include <string>
#include <string_view>

namespace vkllm::frontends::jinja {

// False when `s` is not well-formed UTF-8 (overlong forms, surrogates and values past U+10FFFF
// are rejected, as Python's decoder does).
bool is_valid_utf8(std::string_view s);

std::u32string utf8_to_u32(std::string_view s);  // `s` must be valid UTF-8
std::string u32_to_utf8(std::u32string_view s);
void append_utf8(std::string& out, char32_t c);
size_t count_code_points(std::string_view s);

// str.isspace(): the code points Python's str.split() and str.strip() treat as whitespace.
bool is_python_space(char32_t c);

// str.upper() / str.lower() / str.title() / str.capitalize() and Jinja's `title` filter.
// Characters whose Python case mapping expands to several code points (German sharp s, ligatures,
// dotted capital I, ...) are rejected with an error rather than mapped to a wrong single one.
std::string python_upper(std::string_view s);
std::string python_lower(std::string_view s);
std::string python_title(std::string_view s);       // str.title()
std::string python_capitalize(std::string_view s);  // str.capitalize()
std::string jinja_title(std::string_view s);        // the `title` filter (word starts after - ( { [ < or space)
bool python_is_lower(std::string_view s);           // str.islower()
bool python_is_upper(std::string_view s);           // str.isupper()

}  // namespace vkllm::frontends::jinja
