#include "frontends/gguf/gguf_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "frontends/quant/half.h"

namespace vkllm::frontends {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;        // nested arrays deeper than this are refused (bounds recursion)
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;

constexpr const char* kTypeNames[] = {"u8",     "i8",    "u16", "i16", "u32", "i32", "f32",
                                      "bool",   "string", "array", "u64", "i64", "f64"};

// Bytes one element of the type takes in a file at least (exactly, for fixed-size types).
uint64_t min_encoded_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::String: return 8;   // the length
    case GgufType::Array: return 12;   // element type + count
  }
  return 1;
}

bool is_fixed_size(GgufType t) { return t != GgufType::String && t != GgufType::Array; }

bool is_integer_type(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16: case GgufType::U32:
    case GgufType::I32: case GgufType::U64: case GgufType::I64: return true;
    default: return false;
  }
}

constexpr GgmlTypeInfo kGgmlTypes[] = {
    {GgmlType::F32, "f32", 1, 4, true},          {GgmlType::F16, "f16", 1, 2, true},
    {GgmlType::Q4_0, "q4_0", 32, 18, true},      {GgmlType::Q4_1, "q4_1", 32, 20, true},
    {GgmlType::Q5_0, "q5_0", 32, 22, true},      {GgmlType::Q5_1, "q5_1", 32, 24, false},
    {GgmlType::Q8_0, "q8_0", 32, 34, true},      {GgmlType::Q8_1, "q8_1", 32, 36, false},
    {GgmlType::Q2_K, "q2_K", 256, 84, false},    {GgmlType::Q3_K, "q3_K", 256, 110, false},
    {GgmlType::Q4_K, "q4_K", 256, 144, true},    {GgmlType::Q5_K, "q5_K", 256, 176, true},
    {GgmlType::Q6_K, "q6_K", 256, 210, true},    {GgmlType::Q8_K, "q8_K", 256, 292, false},
    {GgmlType::IQ2_XXS, "iq2_xxs", 256, 66, false}, {GgmlType::IQ2_XS, "iq2_xs", 256, 74, false},
    {GgmlType::IQ3_XXS, "iq3_xxs", 256, 98, false}, {GgmlType::IQ1_S, "iq1_s", 256, 50, false},
    {GgmlType::IQ4_NL, "iq4_nl", 32, 18, false},  {GgmlType::IQ3_S, "iq3_s", 256, 110, false},
    {GgmlType::IQ2_S, "iq2_s", 256, 82, false},   {GgmlType::IQ4_XS, "iq4_xs", 256, 136, false},
    {GgmlType::I8, "i8", 1, 1, false},           {GgmlType::I16, "i16", 1, 2, false},
    {GgmlType::I32, "i32", 1, 4, false},         {GgmlType::I64, "i64", 1, 8, false},
    {GgmlType::F64, "f64", 1, 8, false},         {GgmlType::IQ1_M, "iq1_m", 256, 56, false},
    {GgmlType::BF16, "bf16", 1, 2, true},        {GgmlType::TQ1_0, "tq1_0", 256, 54, false},
    {GgmlType::TQ2_0, "tq2_0", 256, 66, false},  {GgmlType::MXFP4, "mxfp4", 32, 17, false},
};

// F32 metadata (rms epsilons, rope bases) reads as the decimal it was written from: 1e-5f gives
// 1e-05, not 9.99999974737875e-06.
double shortest_double(float f) {
  if (!std::isfinite(f)) return static_cast<double>(f);
  const std::string s = fmt::format("{}", f);
  return std::strtod(s.c_str(), nullptr);
}

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Reads the file front to back; every read is checked against the bytes that remain.
class Parser {
 public:
  Parser(std::span<const uint8_t> file, const std::string& name) : file_(file), name_(name) {}

  FormatError fail(const std::string& what) const {
    return FormatError(fmt::format("{}: not a valid GGUF file: {} (at byte {})", name_, what, pos_));
  }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return file_.size() - pos_; }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining())
      throw fail(fmt::format("{} needs {} bytes but the file ends {} bytes later (truncated file?)", what, n,
                             remaining()));
  }

  template <class T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v = load<T>(file_.data() + pos_);
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view what) {
    const uint64_t len = read<uint64_t>(what);
    need(len, fmt::format("{} ({}-byte string)", what, len));
    std::string s(reinterpret_cast<const char*>(file_.data() + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

  GgufType read_type(std::string_view what) {
    const uint32_t t = read<uint32_t>(what);
    if (t > static_cast<uint32_t>(GgufType::F64))
      throw fail(fmt::format("{} has unknown value type {} (0 to 12 are defined)", what, t));
    return static_cast<GgufType>(t);
  }

  GgufValue read_value(GgufType t, const std::string& what, int depth) {
    switch (t) {
      case GgufType::U8: return GgufValue::u8(read<uint8_t>(what));
      case GgufType::I8: return GgufValue::i8(read<int8_t>(what));
      case GgufType::U16: return GgufValue::u16(read<uint16_t>(what));
      case GgufType::I16: return GgufValue::i16(read<int16_t>(what));
      case GgufType::U32: return GgufValue::u32(read<uint32_t>(what));
      case GgufType::I32: return GgufValue::i32(read<int32_t>(what));
      case GgufType::F32: return GgufValue::f32(read<float>(what));
      case GgufType::U64: return GgufValue::u64(read<uint64_t>(what));
      case GgufType::I64: return GgufValue::i64(read<int64_t>(what));
      case GgufType::F64: return GgufValue::f64(read<double>(what));
      case GgufType::Bool: {
        const uint8_t b = read<uint8_t>(what);
        if (b > 1) throw fail(fmt::format("{} is a bool stored as {} (must be 0 or 1)", what, b));
        return GgufValue::boolean(b != 0);
      }
      case GgufType::String: return GgufValue::string(read_string(what));
      case GgufType::Array: return read_array(what, depth);
    }
    throw fail(fmt::format("{} has an unknown value type", what));
  }

 private:
  GgufValue read_array(const std::string& what, int depth) {
    if (depth >= kMaxArrayDepth) throw fail(fmt::format("{}: arrays nest deeper than {} levels", what, kMaxArrayDepth));
    const GgufType element = read_type(what + " (array element type)");
    const uint64_t count = read<uint64_t>(what + " (array length)");
    const uint64_t min_size = min_encoded_size(element);
    if (count > remaining() / min_size)
      throw fail(fmt::format("{}: an array of {} {} elements cannot fit in the {} bytes left (truncated file?)", what, count,
                             to_string(element), remaining()));
    if (is_fixed_size(element)) {
      const uint64_t n = count * min_size;
      std::vector<uint8_t> bytes(file_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                 file_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
      if (element == GgufType::Bool)
        for (uint64_t i = 0; i < count; ++i)
          if (bytes[i] > 1)
            throw fail(fmt::format("{}: bool element {} is stored as {} (must be 0 or 1)", what, i, bytes[i]));
      pos_ += n;
      return GgufValue::array_from_bytes(element, count, std::move(bytes));
    }
    if (element == GgufType::String) {
      std::vector<std::string> items;
      items.reserve(count);
      for (uint64_t i = 0; i < count; ++i) items.push_back(read_string(fmt::format("{}[{}]", what, i)));
      return GgufValue::array_of_strings(std::move(items));
    }
    std::vector<GgufValue> items;
    items.reserve(count);
    for (uint64_t i = 0; i < count; ++i) items.push_back(read_array(fmt::format("{}[{}]", what, i), depth + 1));
    return GgufValue::array_of_arrays(std::move(items));
  }

  std::span<const uint8_t> file_;
  const std::string& name_;
  uint64_t pos_ = 0;
};

FormatError value_error(const GgufValue& v, const char* wanted) {
  return FormatError(fmt::format("{} is not {}", v.describe(), wanted));
}

}  // namespace

std::string_view to_string(GgufType t) {
  const auto i = static_cast<uint32_t>(t);
  return i < std::size(kTypeNames) ? kTypeNames[i] : "unknown";
}

// --- GgufValue -------------------------------------------------------------------------------------

GgufValue GgufValue::integer(GgufType t, int64_t v) {
  GgufValue x;
  x.type_ = t;
  x.scalar_ = v;
  return x;
}

GgufValue GgufValue::u64(uint64_t v) {
  GgufValue x;
  x.type_ = GgufType::U64;
  x.scalar_ = v;
  return x;
}

GgufValue GgufValue::f32(float v) {
  GgufValue x;
  x.type_ = GgufType::F32;
  x.scalar_ = static_cast<double>(v);
  return x;
}

GgufValue GgufValue::f64(double v) {
  GgufValue x;
  x.type_ = GgufType::F64;
  x.scalar_ = v;
  return x;
}

GgufValue GgufValue::boolean(bool v) {
  GgufValue x;
  x.type_ = GgufType::Bool;
  x.scalar_ = v;
  return x;
}

GgufValue GgufValue::string(std::string v) {
  GgufValue x;
  x.type_ = GgufType::String;
  x.scalar_ = std::move(v);
  return x;
}

GgufValue GgufValue::array_from_bytes(GgufType element, uint64_t count, std::vector<uint8_t> bytes) {
  if (!is_fixed_size(element) || bytes.size() != count * min_encoded_size(element))
    throw FormatError(fmt::format("an array of {} {} elements cannot be built from {} bytes", count,
                                  to_string(element), bytes.size()));
  GgufValue x;
  x.type_ = GgufType::Array;
  x.element_ = element;
  x.count_ = count;
  x.raw_ = std::move(bytes);
  return x;
}

GgufValue GgufValue::array_of_ints(GgufType element, const std::vector<int64_t>& values) {
  const uint64_t size = min_encoded_size(element);
  std::vector<uint8_t> bytes(values.size() * size);
  for (size_t i = 0; i < values.size(); ++i) {
    const int64_t v = values[i];
    switch (element) {
      case GgufType::U8: bytes[i] = static_cast<uint8_t>(v); break;
      case GgufType::I8: bytes[i] = static_cast<uint8_t>(static_cast<int8_t>(v)); break;
      case GgufType::U16: { const auto w = static_cast<uint16_t>(v); std::memcpy(&bytes[i * 2], &w, 2); break; }
      case GgufType::I16: { const auto w = static_cast<int16_t>(v); std::memcpy(&bytes[i * 2], &w, 2); break; }
      case GgufType::U32: { const auto w = static_cast<uint32_t>(v); std::memcpy(&bytes[i * 4], &w, 4); break; }
      case GgufType::I32: { const auto w = static_cast<int32_t>(v); std::memcpy(&bytes[i * 4], &w, 4); break; }
      case GgufType::U64: { const auto w = static_cast<uint64_t>(v); std::memcpy(&bytes[i * 8], &w, 8); break; }
      case GgufType::I64: std::memcpy(&bytes[i * 8], &v, 8); break;
      default: throw FormatError(fmt::format("array_of_ints: {} is not an integer type", to_string(element)));
    }
  }
  return array_from_bytes(element, values.size(), std::move(bytes));
}

GgufValue GgufValue::array_of_u64(const std::vector<uint64_t>& values) {
  std::vector<uint8_t> bytes(values.size() * 8);
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return array_from_bytes(GgufType::U64, values.size(), std::move(bytes));
}

GgufValue GgufValue::array_of_floats(GgufType element, const std::vector<double>& values) {
  std::vector<uint8_t> bytes(values.size() * min_encoded_size(element));
  for (size_t i = 0; i < values.size(); ++i) {
    if (element == GgufType::F32) {
      const auto f = static_cast<float>(values[i]);
      std::memcpy(&bytes[i * 4], &f, 4);
    } else if (element == GgufType::F64) {
      std::memcpy(&bytes[i * 8], &values[i], 8);
    } else {
      throw FormatError(fmt::format("array_of_floats: {} is not a float type", to_string(element)));
    }
  }
  return array_from_bytes(element, values.size(), std::move(bytes));
}

GgufValue GgufValue::array_of_bools(const std::vector<bool>& values) {
  std::vector<uint8_t> bytes(values.begin(), values.end());
  return array_from_bytes(GgufType::Bool, values.size(), std::move(bytes));
}

GgufValue GgufValue::array_of_strings(std::vector<std::string> values) {
  GgufValue x;
  x.type_ = GgufType::Array;
  x.element_ = GgufType::String;
  x.count_ = values.size();
  x.strings_ = std::move(values);
  return x;
}

GgufValue GgufValue::array_of_arrays(std::vector<GgufValue> values) {
  for (const GgufValue& v : values)
    if (!v.is_array()) throw FormatError(fmt::format("array_of_arrays: item {} is not an array", v.describe()));
  GgufValue x;
  x.type_ = GgufType::Array;
  x.element_ = GgufType::Array;
  x.count_ = values.size();
  x.arrays_ = std::move(values);
  return x;
}

bool GgufValue::is_integer() const { return is_integer_type(type_); }

bool GgufValue::is_number() const { return is_integer() || type_ == GgufType::F32 || type_ == GgufType::F64; }

int64_t GgufValue::as_int() const {
  if (!is_integer()) throw value_error(*this, "an integer");
  if (const auto* u = std::get_if<uint64_t>(&scalar_)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw FormatError(fmt::format("{} does not fit in a signed 64-bit integer", describe()));
    return static_cast<int64_t>(*u);
  }
  return std::get<int64_t>(scalar_);
}

uint64_t GgufValue::as_u64() const {
  if (!is_integer()) throw value_error(*this, "an integer");
  if (const auto* u = std::get_if<uint64_t>(&scalar_)) return *u;
  const int64_t v = std::get<int64_t>(scalar_);
  if (v < 0) throw value_error(*this, "a non-negative integer");
  return static_cast<uint64_t>(v);
}

double GgufValue::as_double() const {
  if (type_ == GgufType::F32) return shortest_double(static_cast<float>(std::get<double>(scalar_)));
  if (type_ == GgufType::F64) return std::get<double>(scalar_);
  if (type_ == GgufType::U64) return static_cast<double>(std::get<uint64_t>(scalar_));
  if (is_integer()) return static_cast<double>(std::get<int64_t>(scalar_));
  throw value_error(*this, "a number");
}

bool GgufValue::as_bool() const {
  if (type_ != GgufType::Bool) throw value_error(*this, "a bool");
  return std::get<bool>(scalar_);
}

const std::string& GgufValue::as_string() const {
  if (type_ != GgufType::String) throw value_error(*this, "a string");
  return std::get<std::string>(scalar_);
}

GgufType GgufValue::element_type() const {
  if (!is_array()) throw value_error(*this, "an array");
  return element_;
}

uint64_t GgufValue::size() const {
  if (!is_array()) throw value_error(*this, "an array");
  return count_;
}

const GgufValue& GgufValue::expect_array(GgufType element) const {
  if (!is_array() || element_ != element) throw value_error(*this, fmt::format("an array of {}", to_string(element)).c_str());
  return *this;
}

int64_t GgufValue::int_at(uint64_t i) const {
  if (!is_array() || !is_integer_type(element_)) throw value_error(*this, "an array of integers");
  if (i >= count_) throw FormatError(fmt::format("index {} is past the end of {}", i, describe()));
  const uint8_t* p = raw_.data() + i * min_encoded_size(element_);
  switch (element_) {
    case GgufType::U8: return *p;
    case GgufType::I8: return static_cast<int8_t>(*p);
    case GgufType::U16: return load<uint16_t>(p);
    case GgufType::I16: return load<int16_t>(p);
    case GgufType::U32: return load<uint32_t>(p);
    case GgufType::I32: return load<int32_t>(p);
    case GgufType::I64: return load<int64_t>(p);
    case GgufType::U64: {
      const uint64_t v = load<uint64_t>(p);
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw FormatError(fmt::format("element {} of {} ({}) does not fit in a signed 64-bit integer", i, describe(), v));
      return static_cast<int64_t>(v);
    }
    default: break;
  }
  throw value_error(*this, "an array of integers");
}

double GgufValue::double_at(uint64_t i) const {
  if (is_array() && element_ == GgufType::F32) {
    if (i >= count_) throw FormatError(fmt::format("index {} is past the end of {}", i, describe()));
    return static_cast<double>(load<float>(raw_.data() + i * 4));
  }
  if (is_array() && element_ == GgufType::F64) {
    if (i >= count_) throw FormatError(fmt::format("index {} is past the end of {}", i, describe()));
    return load<double>(raw_.data() + i * 8);
  }
  if (is_array() && element_ == GgufType::U64) {
    if (i >= count_) throw FormatError(fmt::format("index {} is past the end of {}", i, describe()));
    return static_cast<double>(load<uint64_t>(raw_.data() + i * 8));
  }
  return static_cast<double>(int_at(i));
}

bool GgufValue::bool_at(uint64_t i) const {
  expect_array(GgufType::Bool);
  if (i >= count_) throw FormatError(fmt::format("index {} is past the end of {}", i, describe()));
  return raw_[i] != 0;
}

const std::string& GgufValue::string_at(uint64_t i) const {
  expect_array(GgufType::String);
  if (i >= count_) throw FormatError(fmt::format("index {} is past the end of {}", i, describe()));
  return strings_[i];
}

const GgufValue& GgufValue::array_at(uint64_t i) const {
  expect_array(GgufType::Array);
  if (i >= count_) throw FormatError(fmt::format("index {} is past the end of {}", i, describe()));
  return arrays_[i];
}

const std::vector<std::string>& GgufValue::strings() const { return expect_array(GgufType::String).strings_; }

std::span<const uint8_t> GgufValue::raw_elements() const {
  if (!is_array() || !is_fixed_size(element_)) throw value_error(*this, "an array of numbers or bools");
  return raw_;
}

nlohmann::json GgufValue::to_json() const {
  if (!is_array()) {
    switch (type_) {
      case GgufType::Bool: return as_bool();
      case GgufType::String: return as_string();
      case GgufType::F32: case GgufType::F64: return as_double();
      case GgufType::U64: return std::get<uint64_t>(scalar_);
      default: return std::get<int64_t>(scalar_);
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (uint64_t i = 0; i < count_; ++i) {
    switch (element_) {
      case GgufType::Bool: out.push_back(bool_at(i)); break;
      case GgufType::String: out.push_back(strings_[i]); break;
      case GgufType::Array: out.push_back(arrays_[i].to_json()); break;
      case GgufType::F32: out.push_back(shortest_double(load<float>(raw_.data() + i * 4))); break;
      case GgufType::F64: out.push_back(double_at(i)); break;
      case GgufType::U64: out.push_back(load<uint64_t>(raw_.data() + i * 8)); break;
      default: out.push_back(int_at(i)); break;
    }
  }
  return out;
}

std::string GgufValue::describe() const {
  if (is_array()) return fmt::format("array of {} {}", count_, to_string(element_));
  switch (type_) {
    case GgufType::String: {
      const std::string& s = std::get<std::string>(scalar_);
      return fmt::format("string '{}{}'", s.substr(0, 40), s.size() > 40 ? "..." : "");
    }
    case GgufType::Bool: return fmt::format("bool {}", std::get<bool>(scalar_));
    case GgufType::F32: return fmt::format("f32 {}", static_cast<float>(std::get<double>(scalar_)));
    case GgufType::F64: return fmt::format("f64 {}", std::get<double>(scalar_));
    case GgufType::U64: return fmt::format("u64 {}", std::get<uint64_t>(scalar_));
    default: return fmt::format("{} {}", to_string(type_), std::get<int64_t>(scalar_));
  }
}

bool GgufValue::operator==(const GgufValue& o) const {
  return type_ == o.type_ && scalar_ == o.scalar_ && element_ == o.element_ && count_ == o.count_ && raw_ == o.raw_ &&
         strings_ == o.strings_ && arrays_ == o.arrays_;
}

// --- ggml types ----------------------------------------------------------------------------------

const GgmlTypeInfo* ggml_type_info(GgmlType t) {
  for (const GgmlTypeInfo& i : kGgmlTypes)
    if (i.type == t) return &i;
  return nullptr;
}

std::string ggml_type_name(GgmlType t) {
  const GgmlTypeInfo* i = ggml_type_info(t);
  return i ? std::string(i->name) : fmt::format("type id {}", static_cast<uint32_t>(t));
}

std::optional<quant::BlockType> block_type_of(GgmlType t) {
  switch (t) {
    case GgmlType::Q8_0: return quant::BlockType::Q8_0;
    case GgmlType::Q4_0: return quant::BlockType::Q4_0;
    case GgmlType::Q4_1: return quant::BlockType::Q4_1;
    case GgmlType::Q5_0: return quant::BlockType::Q5_0;
    case GgmlType::Q4_K: return quant::BlockType::Q4_K;
    case GgmlType::Q5_K: return quant::BlockType::Q5_K;
    case GgmlType::Q6_K: return quant::BlockType::Q6_K;
    default: return std::nullopt;
  }
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// --- GgufFile ------------------------------------------------------------------------------------

GgufFile GgufFile::open(const std::filesystem::path& path) {
  auto mapped = std::make_shared<MappedFile>(path);
  GgufFile f = parse(mapped->bytes(), path.string());
  f.mapped_ = std::move(mapped);
  return f;
}

GgufFile GgufFile::parse(std::span<const uint8_t> file, const std::string& name) {
  GgufFile f;
  f.name_ = name;
  Parser p(file, f.name_);

  const uint32_t magic = p.read<uint32_t>("the magic number");
  if (magic != kMagic) {
    std::string shown;
    for (size_t i = 0; i < 4; ++i) {
      const auto c = static_cast<unsigned char>(magic >> (8 * i));
      shown += (c >= 0x20 && c < 0x7F) ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02x}", c);
    }
    throw FormatError(fmt::format("{}: not a GGUF file: it starts with '{}', not 'GGUF'", name, shown));
  }
  f.version_ = p.read<uint32_t>("the version");
  if (f.version_ != 2 && f.version_ != 3) {
    if (f.version_ != 0 && (f.version_ & 0xFFFF) == 0)
      throw p.fail(fmt::format("version field {:#x} means a big-endian GGUF file, which is not supported",
                               f.version_));
    if (f.version_ == 1) throw p.fail("GGUF version 1 (32-bit counts) is not supported; convert it to version 3");
    throw p.fail(fmt::format("unsupported GGUF version {} (2 and 3 are supported)", f.version_));
  }
  const uint64_t tensor_count = p.read<uint64_t>("the tensor count");
  const uint64_t kv_count = p.read<uint64_t>("the metadata count");
  // Each metadata entry takes at least 13 bytes, each tensor description at least 24.
  if (kv_count > p.remaining() / 13)
    throw p.fail(fmt::format("{} metadata entries cannot fit in the {} bytes left (truncated file?)", kv_count,
                             p.remaining()));
  if (tensor_count > p.remaining() / 24)
    throw p.fail(fmt::format("{} tensor descriptions cannot fit in the {} bytes left (truncated file?)", tensor_count,
                             p.remaining()));

  f.metadata_.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key = p.read_string(fmt::format("metadata entry {} (key)", i));
    const std::string what = fmt::format("metadata '{}'", key);
    const GgufType type = p.read_type(what);
    GgufValue value = p.read_value(type, what, 0);
    if (!f.metadata_index_.emplace(key, f.metadata_.size()).second)
      throw p.fail(fmt::format("metadata key '{}' appears twice", key));
    f.metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const GgufValue* a = f.find("general.alignment")) {
    if (!a->is_integer()) throw p.fail(fmt::format("general.alignment is {}, not an integer", a->describe()));
    const int64_t v = a->as_int();
    if (v <= 0 || static_cast<uint64_t>(v) > kMaxAlignment || (v & (v - 1)) != 0)
      throw p.fail(fmt::format("general.alignment {} is not a power of two between 1 and 2^30", v));
    f.alignment_ = static_cast<uint32_t>(v);
  }

  f.tensors_.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo t;
    t.name = p.read_string(fmt::format("tensor {} (name)", i));
    const std::string what = fmt::format("tensor '{}'", t.name);
    const uint32_t n_dims = p.read<uint32_t>(what + " (dimension count)");
    if (n_dims > kMaxDims) throw p.fail(fmt::format("{} has {} dimensions (at most {})", what, n_dims, kMaxDims));
    uint64_t numel = 1;
    bool zero = false;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = p.read<uint64_t>(what + " (dimension)");
      if (dim > (uint64_t{1} << 62)) throw p.fail(fmt::format("{} dimension {} is {}, implausibly large", what, d, dim));
      if (dim == 0) zero = true;
      else if (!zero && numel > (uint64_t{1} << 62) / dim)
        throw p.fail(fmt::format("{} has more than 2^62 elements", what));
      else if (!zero) numel *= dim;
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    if (zero) numel = 0;
    t.type = static_cast<GgmlType>(p.read<uint32_t>(what + " (type)"));
    t.offset = p.read<uint64_t>(what + " (data offset)");
    if (t.offset % f.alignment_ != 0)
      throw p.fail(fmt::format("{} data offset {} is not a multiple of the alignment {}", what, t.offset,
                               f.alignment_));
    if (const GgmlTypeInfo* info = ggml_type_info(t.type)) {
      const auto row = static_cast<uint64_t>(t.dims.empty() ? 1 : t.dims[0]);
      if (row % static_cast<uint64_t>(info->block_elems) != 0)
        throw p.fail(fmt::format("{} rows of {} values are not a whole number of {}-value {} blocks", what, row,
                                 info->block_elems, info->name));
      t.size_known = true;
      t.bytes = numel / static_cast<uint64_t>(info->block_elems) * static_cast<uint64_t>(info->block_bytes);
    }
    if (!f.tensor_index_.emplace(t.name, f.tensors_.size()).second)
      throw p.fail(fmt::format("tensor name '{}' appears twice", t.name));
    f.tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t end_of_infos = p.pos();
  f.data_offset_ = (end_of_infos + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  if (f.tensors_.empty()) return f;
  if (f.data_offset_ > file.size())
    throw FormatError(fmt::format("{}: not a valid GGUF file: the tensor data should start at byte {} but the file "
                                  "has {} bytes (truncated file?)",
                                  name, f.data_offset_, file.size()));
  const std::span<const uint8_t> data = file.subspan(f.data_offset_);
  std::vector<std::pair<uint64_t, size_t>> ranges;
  for (size_t i = 0; i < f.tensors_.size(); ++i) {
    GgufTensorInfo& t = f.tensors_[i];
    const uint64_t need = t.size_known ? t.bytes : 0;
    if (t.offset > data.size() || need > data.size() - t.offset)
      throw FormatError(fmt::format("{}: not a valid GGUF file: tensor '{}' ({} {}) occupies bytes [{}, {}) of the "
                                    "data section, which has {} bytes (truncated file?)",
                                    name, t.name, ggml_type_name(t.type), fmt::join(t.dims, "x"), t.offset,
                                    t.offset + need, data.size()));
    if (t.size_known) {
      t.data = data.subspan(t.offset, t.bytes);
      if (t.bytes > 0) ranges.emplace_back(t.offset, i);
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t k = 1; k < ranges.size(); ++k) {
    const GgufTensorInfo& a = f.tensors_[ranges[k - 1].second];
    const GgufTensorInfo& b = f.tensors_[ranges[k].second];
    if (b.offset < a.offset + a.bytes)
      throw FormatError(fmt::format("{}: not a valid GGUF file: the data of tensors '{}' [{}, {}) and '{}' [{}, {}) "
                                    "overlap",
                                    name, a.name, a.offset, a.offset + a.bytes, b.name, b.offset, b.offset + b.bytes));
  }
  return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

FormatError GgufFile::error(const std::string& what) const { return FormatError(fmt::format("{}: {}", name_, what)); }

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  try {
    return v->as_int();
  } catch (const FormatError& e) {
    throw error(fmt::format("metadata '{}': {}", key, e.what()));
  }
}

std::optional<double> GgufFile::get_number(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  try {
    return v->as_double();
  } catch (const FormatError& e) {
    throw error(fmt::format("metadata '{}': {}", key, e.what()));
  }
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  try {
    return v->as_bool();
  } catch (const FormatError& e) {
    throw error(fmt::format("metadata '{}': {}", key, e.what()));
  }
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  try {
    return v->as_string();
  } catch (const FormatError& e) {
    throw error(fmt::format("metadata '{}': {}", key, e.what()));
  }
}

int64_t GgufFile::require_int(std::string_view key) const {
  std::optional<int64_t> v = get_int(key);
  if (!v) throw error(fmt::format("missing metadata '{}'", key));
  return *v;
}

std::string GgufFile::require_string(std::string_view key) const {
  std::optional<std::string> v = get_string(key);
  if (!v) throw error(fmt::format("missing metadata '{}'", key));
  return *v;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void dequantize_ggml(GgmlType type, std::span<const uint8_t> data, std::span<float> out, const std::string& what) {
  const GgmlTypeInfo* info = ggml_type_info(type);
  if (!info || !info->supported_by_vkllm)
    throw FormatError(fmt::format("unsupported tensor type {} ({}); supported: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, "
                                  "q4_K, q5_K, q6_K",
                                  ggml_type_name(type), what));
  const uint64_t want = out.size() / static_cast<uint64_t>(info->block_elems) * static_cast<uint64_t>(info->block_bytes);
  if (out.size() % static_cast<uint64_t>(info->block_elems) != 0 || data.size() != want)
    throw FormatError(fmt::format("{}: {} bytes of {} do not hold {} values", what, data.size(), info->name, out.size()));
  switch (type) {
    case GgmlType::F32:
      if (!out.empty()) std::memcpy(out.data(), data.data(), data.size());
      return;
    case GgmlType::F16:
      for (size_t i = 0; i < out.size(); ++i) out[i] = quant::f16_to_f32(load<uint16_t>(data.data() + 2 * i));
      return;
    case GgmlType::BF16:
      for (size_t i = 0; i < out.size(); ++i) out[i] = quant::bf16_to_f32(load<uint16_t>(data.data() + 2 * i));
      return;
    default:
      quant::dequantize(*block_type_of(type), data, out);
  }
}

std::vector<float> dequantize_tensor(const GgufFile& file, const GgufTensorInfo& tensor) {
  const GgmlTypeInfo* info = ggml_type_info(tensor.type);
  if (!info || !info->supported_by_vkllm)
    throw file.error(fmt::format("unsupported tensor type {} ({}); supported: f32, f16, bf16, q8_0, q4_0, q4_1, "
                                 "q5_0, q4_K, q5_K, q6_K",
                                 ggml_type_name(tensor.type), tensor.name));
  std::vector<float> out(static_cast<size_t>(tensor.numel()));
  try {
    dequantize_ggml(tensor.type, tensor.data, out, tensor.name);
  } catch (const FormatError& e) {
    throw file.error(e.what());
  }
  return out;
}

}  // namespace vkllm::frontends
