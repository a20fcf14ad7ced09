// The matrix-vector ("matvec") kernels emit_matmul (matmul.cpp) picks for few activation rows with f32
// activations and subgroup arithmetic: every quantized weight dtype here, and f32/f16/bf16 weights
// through emit_float_matvec (when row_vector_kernel_fits in matmul.cpp).
//
// Decode is bandwidth-bound only if the kernel retires each weight byte in few instructions. Layout:
// - A workgroup owns R weight rows (R = 2..8, more for wider N so that N = 1024 still gives 256
//   workgroups; split=subgroup below: each subgroup owns R rows) and TM activation rows; ALL its
//   invocations split K between them: invocation i takes
//   the i-th, (i + local)-th, ... lane unit of every row (a unit = 32 or 64 values: one or two blocks,
//   a sub-block pair of q4_K, ...), so a warp reads contiguous bytes of R rows at once.
// - Per unit, a lane loads the R rows' packed words (all loads issued together), then reads each x
//   vec4 of the unit ONCE per activation row (after the fused_x4 prologue hook) and applies it to the
//   R rows: x traffic and the prologue's cost are divided by R.
// - Dequantization never converts an integer to float with I2F (an eighth-rate unit on NVIDIA: 16
//   per SM per clock, too few for the 4.8e12 4.5-bit weights/s that 2.7 TB/s means). A field of
//   b bits at bit p (p + b <= 23; higher fields are shifted down by 16 first) becomes a float by
//   masking it into the mantissa of 2^(23-p): uintBitsToFloat((w & mask) ^ (exponent | sign flip))
//   = 2^(23-p) + q exactly, and subtracting 2^(23-p) + offset gives q - offset exactly (offset: 8 for
//   q4_0, 32 for q6_K, 128 with the top bit flipped for int8). Per weight: one LOP3, one FADD, one FFMA.
// - Scales factor out of each scale group: Σ d·(q−8)·x = d·Σ(q−8)·x; affine and K-quant mins:
//   Σ (s·q + b)·x = s·Σq·x + b·Σx, with Σx computed once per group and activation row and shared by
//   the R rows. So the kernel's weights are exact integers and its sums reassociate those of the
//   reference (which rounds d·q per value): outputs differ from it by f32 rounding only, and the
//   tests compare within 1e-4 of the largest output, as for every f32 matmul (tests/ops/op_harness.cpp).
// - Partial sums: subgroupAdd, then one shared-memory pass across the subgroups (one barrier).
// - Several weights (multi_matmul, MatvecWeights in matmul.h), x still read (staged) once per
//   workgroup: a combine's row group reads rows r of the gate and the up weight, 2R weight rows for
//   R outputs (R is chosen so that the 2R rows fit the registers' budget), and writes
//   combine(gate, up); without one, the grid runs over every weight's row groups and a workgroup
//   reads the weight it falls in (`which`), through the global reference `w_cur` its loads use.
//
// Tuning (codegen/target.h MatvecTuning, per device from codegen/profiles.cpp, VKLLM_TUNE overrides;
// kernel names carry the values: ..._qmatvec<TM>x<R>u<U>_l<local>v<units><wg|sg>[ws][xs][i8]):
// - split=workgroup (above): one workgroup = one row group of R rows, all `local` invocations split K.
//   split=subgroup: a workgroup of local/subgroup row groups, each SUBGROUP owning R rows and
//   splitting K among its lanes — no shared memory and no barrier, the subgroupAdd is final, and a
//   workgroup moves local/32 times the weight bytes (the fixed per-workgroup cost is amortized).
// - units: a lane loads that many units (of each of its R rows) before computing any: more loads in
//   flight per lane. The loop runs uniformly (every lane the same trip count; a lane whose unit lies
//   past the row's end loads the last unit again and skips its math), as the staging needs.
// - stage (split=subgroup, contiguous unit formats — q4_0/q8_0 block pairs, every affine format with
//   a whole block per unit — rows of a multiple of 16 bytes): the subgroup's span of each row for one
//   iteration (subgroup·units units) is read with 16-byte loads of consecutive lanes into shared
//   memory, then each lane reads its unit's words there at a stride of `words` (odd for q4_0/q8_0
//   pairs and the h-affine formats: no bank conflicts). Only subgroup barriers.
// - xstage (split=subgroup, formats whose unit covers consecutive columns — all but q6_K): x after
//   the prologue is written once per workgroup to shared memory (in chunks of whole iterations, two
//   workgroup barriers per chunk), a vec4 of padding after each unit's columns; the prologue's cost
//   (rms_norm's g reads, swiglu's exp) is then paid once per workgroup instead of once per row group,
//   and Σx² of rms_norm is summed across the subgroups through shared memory at the end.
// - dot=i8 (q4_0 / q8_0): integer dot products on x staged as int8 hi/lo pairs ("Integer dot
//   products" below); implies split=subgroup and xstage, and has its own automatic R and local.
// Why staging: a warp-wide load is served in "wavefronts" of one 128-byte line each. Unstaged, lane
// l reads unit l: its x vec4s sit 4·values bytes apart (256 bytes for 64-value units), so each x load
// instruction touches 32 lines, and the 36-byte q4_0 pairs put 32 scalar loads on 9 lines. Per 32
// units of R = 4 q4_0 rows (4.6 KB of weights, TM = 1): 16 x loads x 32 + 36 weight loads x 9 = ~836
// wavefronts; at one wavefront per SM and clock (H200: 132 x 1.98e9) that caps the kernel near
// 1.4 TB/s — the measured 0.92 TB/s is of that order, bf16 (16-byte units, contiguous) needs ~48
// wavefronts per 4 KB and reaches 3.06. Staged: weights 4 x 3 16-byte loads (4 wavefronts each) +
// as many shared stores + 36 conflict-free shared reads; x 16 padded vec4 shared reads (4 each) plus
// its staging, ~64 per subgroup iteration: ~260 wavefronts per 4.6 KB, under the 4.4 TB/s peak's
// ~270. These are estimates to be checked with `vkllm bench --matmul` (docs/CLI.md).
//
// Cost per 32 weights and activation row, one lane's share (R = 4, TM = 1), counted from the GLSL
// (hand estimates of NVIDIA SASS, not measured: ld = weight loads, x-ld = 16-byte x loads; int =
// LOP3/SHF/IADD on the half-rate integer pipe; I2F = int→float conversions, 16 per SM per clock;
// fp = FADD/FMUL/FFMA, full rate):
//   format  bytes | before: ld + x-ld, int, I2F, fp   (slots) | after: ld + x-ld, int, I2F, fp  (slots)
//   q4_0    18    |        5 + 8,  ~90,  32,  ~72      (~207) |       4.5 + 2,  ~38,   0, ~66   (~111)
//   q4_K    18    |        3 + 8,  ~80,  34, ~106      (~231) |       1.5 + 2,  ~46,   2, ~77   (~129)
//   q8_0    34    |        9 + 8,  ~92,  32,  ~72      (~213) |       8.5 + 2,  ~40,   0, ~66   (~117)
// "before": the previous kernel (one weight row per subgroup; per value a shift and mask, an I2F and
// `precise` d·(q−8) or (d·sc)·q − m, a vec4 dot; x re-read for every weight row; q4_0/q8_0 blocks
// through half-word-shifted windows). "after": this kernel; q4_0/q8_0 rows with an even number of
// blocks take block pairs (36 / 68 bytes, 4-byte aligned: every field at a fixed bit position, no
// shifting), per value one LOP3 (mask and exponent/sign xor), one FADD, one FFMA, plus one SHF per
// word for the fields above bit 19; q4_K adds Σx (one FADD per x value, shared by the R rows) and the
// 6-bit scale decode (~20 integer ops per 64 values and row).
// Budget: at 2.7 TB/s an H200 (132 SMs x 4 schedulers, ~1.98 GHz) must retire 4.8e12 4.5-bit
// weights/s, i.e. ~7 issue slots per weight and lane at full issue rate (~13 for q8_0): the previous
// kernel needed ~6.5 plus 1 I2F per weight — and the I2F unit alone caps it at 132·16·1.98e9 =
// 4.2e12 weights/s; this one needs ~3.5 (q4_0) to ~4 (q4_K), leaving room for the prologue hooks and
// for latency. Why no 16-byte-aligned repack of q4_0 / q8_0 / q6_K: with block pairs the 2-byte
// alignment costs no instruction for q4_0 / q8_0, and q6_K's windows (~1 instruction per weight) fit
// its budget (6.56 bits per weight: ~10 slots); a repack would save at most ~4 of ~110 slots per 32
// weights and needs a new dtype in every reader.
//
// Integer dot products (dot=i8; q4_0 and q8_0, on devices with VK_KHR_shader_integer_dot_product):
// the f32 path above spends ~3.5 issue slots per q4_0 weight (LOP3 + FADD + FFMA, plus x reads); the
// target (600 tok/s on Llama-3-8B q4_0, 85% of an H200's 4.4 TB/s) needs ~7e12 4.5-bit weights/s,
// i.e. at most ~4.3 slots per weight at full issue rate, less in practice. Packed int8 dot products
// (OpSUDotKHR / OpSDotKHR: 4 int8 products summed in one instruction, IDP4A on NVIDIA) do 4 weights
// at once, once x is int8:
// - x after the prologue (rms_norm's x·g: its 1/rms factor is applied to the final sums, it is
//   linear; swiglu's silu(gate)·up) is staged ONCE per workgroup into shared memory, per 32-column
//   block and activation row as hi[32] and lo[32] int8 plus two floats: s = max|x_block| / (127·254),
//   hi = round(x·127 / max) in [−127, 127], lo = clamp(round((x − 254·s·hi) / s), −127, 127) (from
//   the kernel's own hi, so a rounding difference in hi cannot overflow lo), x̃ = s·(254·hi + lo);
//   and for q4_0 t = −8·Σx̃ (the offset term). An all-zero block has s = 0 and hi = lo = 0. A
//   block's 8-column quarters are quantized by 4 lanes of one subgroup (max and Σ by shuffles),
//   rounding by the 1.5·2^23 magic-number add (one FFMA), bytes packed in registers.
// - Per unit (block pair, or a single block for odd block counts: the same words as the f32 path
//   loads, staged or not), block and row: the quants aligned (one funnel shift per word for the
//   block that starts at byte 2 mod 4) and for q4_0 split into low nibbles `w & 0x0F0F0F0F` (values
//   0..15 of the block, paired with x words 0..3) and high nibbles `(w >> 4) & 0x0F0F0F0F` (values
//   16..31, x words 4..7); A = Σ q·hi and B = Σ q·lo by 8 + 8 dot products (signed x, unsigned q4_0
//   quants: OpSUDotKHR; signed q8_0 quants: OpSDotKHR); then y += d·(s·float(254·A + B) + t), one
//   I2F per block and row (exact for q4_0: |254·A + B| <= 15.5M < 2^24; q8_0's up to 1.3e8 round
//   to 24 bits, an f32 rounding like any other).
// - Records: per unit and activation row 9 uvec4 (block pairs: hi0, lo0, hi1, lo1 as 2 uvec4 each,
//   then (s0, t0, s1, t1)) or 5 (single blocks), so a lane reads its x block with 4 uvec4 loads and
//   8 consecutive lanes hit 8 distinct 4-bank groups (odd record strides). 2.25 bytes per column
//   and activation row (f32 staging: 4.25), in chunks of 24 KiB by default (`xchunk`).
// Cost per 32 q4_0 weights and activation row, one lane's share (TM = 1, R = 4; hand count from
// the GLSL, not measured): 16 dot products + 1 IMAD + 1 I2F + 2 FFMA per block and row; per block
// and row ~14 integer ops to align and split the quants (2 funnel shifts, 4 LOP3, 4 SHF + 4 LOP3)
// and the d conversion; 4.5 word loads (or a share of the staged 16-byte loads) and 4.5 uvec4 shared
// loads of x per block shared by the R rows: ~38-42 slots, ~1.3 per weight (f32 path ~3.5). q8_0:
// 16 dots and no nibble split: ~1.1 per weight (with twice the bytes). Staging costs ~12-15 slots
// per x value and workgroup (max, 2 roundings, residual, clamp, packing, the prologue), i.e. ~0.9
// per weight at 16 rows per workgroup (4 subgroups x R = 4), ~0.45 at R = 8: the defaults and why
// are at matvec_layout.
// Error model: |x − x̃| <= max|x_block| / (2·127·254) ≈ max|x_block|·1.55e-5 per value (about 16
// bits per 32-value block; llama.cpp's q8_1 activations keep 8), so a row's error is the weights'
// sum of block-scaled errors of that size. The tests keep the f32 path's tolerance (1e-4 of the
// largest output, against the reference with unquantized x); measured on lavapipe: 1.1e-5 to 2.4e-5
// on uniform inputs, up to 7.8e-5 with a 300x outlier in a block (the block's other values get the
// outlier's resolution, so that relative error does not shrink with the outlier's size). The weights
// and the integer products are exact; s·float(254·A + B), d·(…) + t and the sums are f32 operations.
// In a GPU profile (`vkllm bench --profile`) the kernels are named ..._qmatvec<TM>x<R>u<U>_<knobs> (U:
// values per lane unit; u64 = block pairs, sub-block pairs, 64-value affine blocks; knobs: see
// "Tuning" above) and ..._matvec<TM>x<R>_<knobs> for float weights; `vkllm bench --matmul` times one;
// `vkllm inspect MODEL --kernel N --stats` shows the driver's register count for one of them.
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <functional>

#include "codegen/glsl_compiler.h"
#include "codegen/ops/glsl.h"
#include "codegen/profiles.h"
#include "codegen/ops/matmul.h"

namespace vkllm::codegen::ops {
namespace {

// Where one quantized value lives in a unit's words: `bits` bits at bit `pos` of word `word`, meaning
// that unsigned number minus `offset`; `flip`: the field is two's complement (its top bit is flipped
// first, so the number is q + 2^(bits-1) and offset is 2^(bits-1)).
struct Field {
  int word, pos, bits, offset = 0;
  bool flip = false;
};

// One lane's share of a weight row and how to read it. The GLSL defines
//   uint unit_column(uint u): column of the unit's first value (values then lie at x_offsets),
//   void load_unit(uint row, uint u, out uint w[words], out float scale[groups], out float bias[groups]):
// the unit's words (fields are read from them) and per group its scale and bias, such that value j
// of the unit (in unit order) equals scale[g]·q_j + bias[g] for its group g = j / (values / groups).
struct UnitFormat {
  int values = 32, words = 0, groups = 1;
  bool bias = false;    // a nonzero bias (needs Σx per group)
  bool scaled = true;   // false: float weights, value j is the expression itself (scale 1, no groups)
  std::function<std::string(int j, const std::string& w)> value;  // GLSL float of value j from array w
  std::vector<int> x_offsets;  // per vec4 of the unit: column offset from unit_column(u)
  // Unit u of weight row `row` is the `words` words from word (row·units_per_row + u)·words on, and the
  // GLSL defines unit_header(w, scale, bias) instead of load_unit: emit_matvec loads the words itself
  // (from memory, or staged through shared memory).
  bool contiguous = false;
  int header_words = 0;  // leading words of a contiguous unit that hold only its scales (not kept live)
  // q4_0 / q8_0 units the integer-dot-product path reads (dot=i8): blocks per unit (0: not such a
  // unit), each block's f16 d then its quants, `dot_block_bytes` apart from the unit's byte 0 (in w);
  // dot_signed: int8 quants (q8_0), else 4-bit quants with offset 8 (q4_0).
  int dot_blocks = 0, dot_block_bytes = 0;
  bool dot_signed = false;
  std::string glsl;
  bool linear_columns() const {  // value j of the unit is at column unit_column(u) + j
    for (size_t q = 0; q < x_offsets.size(); ++q)
      if (x_offsets[q] != static_cast<int>(4 * q)) return false;
    return true;
  }
};

// The exact float of a field: see the top of this file.
std::string field_value(const Field& f, const std::string& w) {
  int pos = f.pos;
  std::string word = fmt::format("{}[{}]", w, f.word);
  if (pos + f.bits > 23) {
    pos -= 16;
    word = "(" + word + " >> 16u)";
  }
  const uint32_t mask = ((1u << f.bits) - 1u) << pos;
  const uint32_t flip = f.flip ? (1u << (f.bits - 1)) << pos : 0u;
  const uint32_t exponent = static_cast<uint32_t>(150 - pos) << 23;  // 2^(23 - pos)
  return fmt::format("(uintBitsToFloat(({} & {:#x}u) ^ {:#x}u) - {})", word, mask, flip | exponent,
                     glsl_float(std::ldexp(1.0, 23 - pos) + f.offset));
}

UnitFormat quantized_unit(int values, int words, int groups, bool bias, std::vector<Field> fields,
                          std::string glsl, const std::string& column = "") {
  UnitFormat u;
  u.values = values;
  u.words = words;
  u.groups = groups;
  u.bias = bias;
  u.value = [fields = std::move(fields)](int j, const std::string& w) { return field_value(fields.at(j), w); };
  for (int q = 0; q < values / 4; ++q) u.x_offsets.push_back(4 * q);
  u.glsl = "uint unit_column(uint u) { return " + (column.empty() ? "u * " + glsl_uint(values) : column) + "; }\n" +
           std::move(glsl);
  return u;
}

// ggml q4_0 (18-byte blocks: f16 d, byte k = values k (low nibble) and k + 16 (high)) and q8_0 (34
// bytes: f16 d, 32 int8). Rows of an even number of blocks: a unit is a block pair, 4-byte aligned,
// read as whole words at fixed positions. Otherwise a unit is one block, read through a window of
// words shifted by a half word when the block starts at 2 mod 4.
UnitFormat ggml_legacy_unit(ir::DType w, int64_t blocks_per_row) {
  const bool q8 = w == ir::DType::Q8_0;
  const int block_bytes = q8 ? 34 : 18;
  std::vector<Field> fields;
  // Block b of the unit has its quants from byte `first` on.
  auto add_block = [&](int first) {
    for (int k = 0; k < (q8 ? 32 : 16); ++k) {
      const int byte = first + k, word = byte / 4, pos = 8 * (byte % 4);
      if (q8) fields.push_back({word, pos, 8, 128, true});
      else fields.push_back({word, pos, 4, 8});
    }
    if (!q8)
      for (int k = 0; k < 16; ++k) {
        const int byte = first + k;
        fields.push_back({byte / 4, 8 * (byte % 4) + 4, 4, 8});
      }
  };
  if (blocks_per_row % 2 == 0) {
    const int words = block_bytes * 2 / 4;  // 9 or 17
    add_block(2);
    add_block(block_bytes + 2);
    UnitFormat u = quantized_unit(64, words, 2, false, std::move(fields),
                                  render(R"(
void unit_header(uint w[$W], out float scale[2], out float bias[2]) {
  scale[0] = unpackHalf2x16(w[0]).x;
  scale[1] = unpackHalf2x16(w[$D1]).y;
  bias[0] = 0.0;
  bias[1] = 0.0;
}
)", {{"W", std::to_string(words)}, {"D1", std::to_string(words / 2)}}));
    u.contiguous = true;
    u.dot_blocks = 2;
    u.dot_block_bytes = block_bytes;
    u.dot_signed = q8;
    return u;
  }
  add_block(2);
  const int words = q8 ? 9 : 5;
  UnitFormat u = quantized_unit(32, words, 1, false, std::move(fields),
                        render(R"(
void load_unit(uint row, uint u, out uint w[$W], out float scale[1], out float bias[1]) {
  load_window$W((row * $BLOCKS + u) * $BYTES, w);
  scale[0] = unpackHalf2x16(w[0]).x;
  bias[0] = 0.0;
}
)", {{"W", std::to_string(words)},
     {"BLOCKS", glsl_uint(blocks_per_row)}, {"BYTES", glsl_uint(block_bytes)}}));
  // load_unit's window puts the block's byte 0 at byte 0 of w, as in a pair.
  u.dot_blocks = 1;
  u.dot_block_bytes = block_bytes;
  u.dot_signed = q8;
  return u;
}

// ggml q4_K (144 bytes = 9 x 16: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of
// nibbles) and q5_K (176 bytes: the same with 32 bytes of fifth bits before the nibbles). Sub-blocks
// 2k and 2k+1 share 32 bytes (low and high nibbles), so a unit is that pair: 64 values, groups of 32.
UnitFormat k_quant_unit(ir::DType w, int64_t blocks_per_row) {
  const bool q5 = w == ir::DType::Q5_K;
  std::vector<Field> fields;
  for (int half = 0; half < 2; ++half)
    for (int l = 0; l < 32; ++l) {
      if (q5) fields.push_back({8 * half + l / 4, 8 * (l % 4), 5});  // fifth bit merged by load_unit
      else fields.push_back({l / 4, 8 * (l % 4) + 4 * half, 4});
    }
  // Scales of sub-blocks j = 2k, 2k+1 (ggml get_scale_min_k4) from the 12 bytes S at header bytes 4..15:
  // j < 4: sc = S[j] & 63, m = S[j+4] & 63; j >= 4: sc = (S[j+4] & 15) | (S[j-4] >> 6) << 4,
  // m = (S[j+4] >> 4) | (S[j] >> 6) << 4. For a pair both come from one halfword of h.y, h.z, h.w.
  const std::string quants =
      q5 ? R"(  uvec4 q0 = b.v[block + 3u + 2u * k], q1 = b.v[block + 4u + 2u * k];
  uvec4 h0 = b.v[block + 1u], h1 = b.v[block + 2u];
  for (uint i = 0u; i < 4u; ++i) {
    w[i] = (q0[i] & 0x0f0f0f0fu) | (((h0[i] >> (2u * k)) & 0x01010101u) << 4u);
    w[4u + i] = (q1[i] & 0x0f0f0f0fu) | (((h1[i] >> (2u * k)) & 0x01010101u) << 4u);
    w[8u + i] = ((q0[i] >> 4u) & 0x0f0f0f0fu) | (((h0[i] >> (2u * k + 1u)) & 0x01010101u) << 4u);
    w[12u + i] = ((q1[i] >> 4u) & 0x0f0f0f0fu) | (((h1[i] >> (2u * k + 1u)) & 0x01010101u) << 4u);
  }
)"
         : R"(  uvec4 q0 = b.v[block + 1u + 2u * k], q1 = b.v[block + 2u + 2u * k];
  for (uint i = 0u; i < 4u; ++i) {
    w[i] = q0[i];
    w[4u + i] = q1[i];
  }
)";
  return quantized_unit(
      64, q5 ? 16 : 8, 2, true, std::move(fields),
      render(R"(void load_unit(uint row, uint u, out uint w[$W], out float scale[2], out float bias[2]) {
  W16 b = W16(args.w);
  uint block = (row * $BLOCKS + (u >> 2u)) * $UNITS, k = u & 3u;
  uvec4 h = b.v[block];
$QUANTS  uint shift = (k & 1u) * 16u;
  uint a = h.y >> shift, bm = h.z >> shift, c = h.w >> shift;
  bool high = k >= 2u;
  uint sc = high ? (c & 0x0f0fu) | ((a >> 2u) & 0x3030u) : a & 0x3f3fu;
  uint mn = high ? ((c >> 4u) & 0x0f0fu) | ((bm >> 2u) & 0x3030u) : bm & 0x3f3fu;
  vec2 dm = unpackHalf2x16(h.x);
  precise float d0 = dm.x * float(sc & 255u), d1 = dm.x * float(sc >> 8u);
  precise float m0 = dm.y * float(mn & 255u), m1 = dm.y * float(mn >> 8u);
  scale[0] = d0;
  scale[1] = d1;
  bias[0] = -m0;
  bias[1] = -m1;
}
)", {{"W", q5 ? "16" : "8"}, {"BLOCKS", glsl_uint(blocks_per_row)}, {"UNITS", q5 ? "11u" : "9u"},
     {"QUANTS", quants}}));
}

// ggml q6_K (210 bytes: ql[128], qh[64], int8 scales[16], f16 d). Unit (h, i) of a block holds
// l = 8i..8i+7 of half h for the four quarters t: low nibbles from ql[64h + l] (t = 0, 2) and
// ql[64h + 32 + l] (t = 1, 3), two high bits from qh[32h + l], scale scales[8h + l/16 + 2t]; its
// values are the columns 128h + 32t + l, in groups of 8 by t. Pieces are read through windows.
UnitFormat q6_k_unit(int64_t blocks_per_row) {
  std::vector<Field> fields;
  for (int t = 0; t < 4; ++t)
    for (int l = 0; l < 8; ++l) fields.push_back({2 * t + l / 4, 8 * (l % 4), 6, 32});
  UnitFormat u = quantized_unit(32, 8, 4, false, std::move(fields),
                                render(R"(uvec2 window2(uint a) {
  U32s b = U32s(args.w);
  uint w = a >> 2u, r0 = b.v[w], r1 = b.v[w + 1u], r2 = b.v[w + 2u];
  bool odd = (a & 2u) != 0u;
  return uvec2(funnel(r0, r1, odd), funnel(r1, r2, odd));
}
void load_unit(uint row, uint u, out uint w[8], out float scale[4], out float bias[4]) {
  uint o = (row * $BLOCKS + (u >> 3u)) * 210u, h = (u >> 2u) & 1u, i = u & 3u;
  uvec2 la = window2(o + 64u * h + 8u * i), lb = window2(o + 64u * h + 32u + 8u * i);
  uvec2 hq = window2(o + 128u + 32u * h + 8u * i), sc = window2(o + 192u + 8u * h);
  for (uint c = 0u; c < 2u; ++c) {
    w[c] = (la[c] & 0x0f0f0f0fu) | ((hq[c] << 4u) & 0x30303030u);
    w[2u + c] = (lb[c] & 0x0f0f0f0fu) | ((hq[c] << 2u) & 0x30303030u);
    w[4u + c] = ((la[c] >> 4u) & 0x0f0f0f0fu) | (hq[c] & 0x30303030u);
    w[6u + c] = ((lb[c] >> 4u) & 0x0f0f0f0fu) | ((hq[c] >> 2u) & 0x30303030u);
  }
  float d = unpackHalf2x16(halfword_at(o + 208u)).x;
  for (uint t = 0u; t < 4u; ++t) {
    uint s = (i >> 1u) + 2u * t;
    precise float ds = d * float(bitfieldExtract(int(sc[s >> 2u]), int((s & 3u) * 8u), 8));
    scale[t] = ds;
    bias[t] = 0.0;
  }
}
)", {{"BLOCKS", glsl_uint(blocks_per_row)}}),
                                "(u >> 3u) * 256u + ((u >> 2u) & 1u) * 128u + (u & 3u) * 8u");
  u.x_offsets.clear();
  for (int q = 0; q < 8; ++q) u.x_offsets.push_back(32 * (q / 2) + 4 * (q % 2));
  return u;
}

// The affine formats (value = scale·q + bias, unsigned q in order, `bits` per value): qa4/qa8 (f32
// scale and bias, then 32 values), qa4h/qa8h (f16 pair in one word, 32 values) and their _g64 forms
// (64 values per block). Rows hold whole blocks, every block a whole number of words: a unit is one
// block, contiguous (header words, then `bits` words per 32 values), one scale group.
UnitFormat affine_unit(ir::DType w) {
  const int bits = (w == ir::DType::QA4 || w == ir::DType::QA4H || w == ir::DType::QA4H_G64) ? 4 : 8;
  const bool f32_header = w == ir::DType::QA4 || w == ir::DType::QA8;
  const int header_words = f32_header ? 2 : 1;
  const int block_values = ir::info(w).block_elems, block_words = static_cast<int>(ir::info(w).block_bytes) / 4;
  const int per_word = 32 / bits;
  std::vector<Field> fields;
  for (int j = 0; j < block_values; ++j) fields.push_back({header_words + j / per_word, bits * (j % per_word), bits});
  const std::string header = f32_header ? R"(  scale[0] = uintBitsToFloat(w[0]);
  bias[0] = uintBitsToFloat(w[1]);
)"
                                        : R"(  vec2 sb = unpackHalf2x16(w[0]);
  scale[0] = sb.x;
  bias[0] = sb.y;
)";
  UnitFormat u = quantized_unit(block_values, block_words, 1, true, std::move(fields),
                                render(R"(void unit_header(uint w[$W], out float scale[1], out float bias[1]) {
$HEADER}
)", {{"W", std::to_string(block_words)}, {"HEADER", header}}));
  u.contiguous = true;
  u.header_words = header_words;
  return u;
}

UnitFormat quantized_unit_format(ir::DType w, int64_t k) {
  const int64_t blocks_per_row = k / ir::info(w).block_elems;
  switch (w) {
    case ir::DType::Q4_0:
    case ir::DType::Q8_0: return ggml_legacy_unit(w, blocks_per_row);
    case ir::DType::Q4_K:
    case ir::DType::Q5_K: return k_quant_unit(w, blocks_per_row);
    case ir::DType::Q6_K: return q6_k_unit(blocks_per_row);
    case ir::DType::QA4:
    case ir::DType::QA8:
    case ir::DType::QA4H:
    case ir::DType::QA8H:
    case ir::DType::QA4H_G64:
    case ir::DType::QA8H_G64: return affine_unit(w);
    default: throw CompileError(fmt::format("{} is not a quantized weight type", ir::name(w)));
  }
}

// Float weights: a unit is one 16-byte load (8 halves or 4 floats), values converted exactly.
UnitFormat float_unit(ir::DType w, int64_t k) {
  UnitFormat u;
  u.scaled = false;
  u.values = w == ir::DType::F32 ? 4 : 8;
  u.words = 4;
  if (w == ir::DType::F32)
    u.value = [](int j, const std::string& a) { return fmt::format("uintBitsToFloat({}[{}])", a, j); };
  else if (w == ir::DType::BF16)
    u.value = [](int j, const std::string& a) {
      return j % 2 == 0 ? fmt::format("uintBitsToFloat({}[{}] << 16u)", a, j / 2)
                        : fmt::format("uintBitsToFloat({}[{}] & 0xffff0000u)", a, j / 2);
    };
  else
    u.value = [](int j, const std::string& a) {
      return fmt::format("unpackHalf2x16({}[{}]).{}", a, j / 2, j % 2 == 0 ? "x" : "y");
    };
  for (int q = 0; q < u.values / 4; ++q) u.x_offsets.push_back(4 * q);
  u.glsl = render(R"(uint unit_column(uint u) { return u * $V; }
void load_unit(uint row, uint u, out uint w[4], out float scale[1], out float bias[1]) {
  uvec4 v = W16(args.w).v[row * $UNITS + u];
  for (uint i = 0u; i < 4u; ++i) w[i] = v[i];
  scale[0] = 1.0;
  bias[0] = 0.0;
}
)", {{"V", glsl_uint(u.values)}, {"UNITS", glsl_uint(k / u.values)}});
  return u;
}

// Activation rows per workgroup: the row count when it (or its bound) is at most 4, else 4.
int64_t activation_rows_per_group(const EmitContext& ctx, int64_t const_rows,
                                  const std::vector<std::string>& row_symbols) {
  int64_t bound = std::max<int64_t>(const_rows, 1);
  for (const std::string& s : row_symbols) {
    const std::optional<int64_t> v = ctx.max_value(ir::Dim::symbol(s));
    if (!v) return 4;
    bound *= std::max<int64_t>(*v, 1);
    if (bound >= 4) return 4;
  }
  return std::min<int64_t>(bound, 4);
}

// The shape of one matvec kernel, resolved from the tuning knobs (TargetCaps::qmatvec / fmatvec),
// the device and the matmul's shape.
struct MatvecLayout {
  int64_t tm = 1;           // activation rows per workgroup
  int64_t r = 2;            // weight rows per row group
  uint32_t local = 64;      // invocations per workgroup
  int units = 1;            // lane units loaded before any is computed
  bool subgroup_rows = false;
  bool stage_w = false, stage_x = false;
  uint32_t sg = 32;               // subgroup size (fixed by the kernel in subgroup_rows mode)
  int64_t chunk_units = 0;        // stage_x: units whose x columns one staging pass holds
  bool dot = false;               // integer dot products on x staged as int8 hi/lo (dot=i8)
  // dot: uvec4s of one unit's staged x record per activation row: per block hi[32] and lo[32] int8
  // (4 uvec4), then one uvec4 of (s, t) float pairs, one pair per block.
  int64_t record_vec4 = 0;
  uint32_t groups() const { return subgroup_rows ? local / sg : 1; }  // row groups per workgroup
  int64_t rows_per_workgroup() const { return r * groups(); }
  uint32_t stride() const { return subgroup_rows ? sg : local; }     // lanes splitting one row group's units
  int64_t step() const { return int64_t{stride()} * units; }         // units per loop iteration
};

// Auto values (knob 0): R as large as registers allow (R·TM accumulators, R·units units of words)
// while the grid keeps >= 256 workgroups (N = 1024: R = 4), at least 2; local: the workgroup-split
// kernel takes 32..128 invocations as K allows, the subgroup-rows kernel 4 subgroups, fewer while the
// grid would drop below 256 workgroups. At most 65535 workgroups along x.
// dot=i8 (q4_0 / q8_0 units, a device with integer dot products, subgroup size control and shuffles):
// always subgroup-owned rows and staged x. Its staging costs ~12 instructions per x value and
// workgroup against ~1.3 per weight for the products, which argues for many rows per workgroup; but
// the H200 sweep of the f32 kernel with the same layout (bench/results/2026-12-03-h200-session4)
// ran q4_0 14336x4096 in 17.7 µs at R = 4 and 22.6 at R = 8: resident warps (loads in flight) win.
// At R = 4 and 4 subgroups (16 rows per workgroup) staging adds ~0.9 slots per weight, ~2.2 in all:
// ~3.9 µs of issue for that shape against 7.5 µs of memory time at 4.4 TB/s, still memory-bound. So:
// R up to 8 with at most 40 live weight words per lane (q4_0 pairs R = 4, q8_0 pairs R = 2, q4_0
// single blocks R = 8; R·TM <= 16) while the grid keeps >= 128 workgroups (about one per SM of an
// H200), 4 subgroups, fewer while the grid would drop below 128. The staged records take 2.25 bytes
// per column and activation row; chunks of 24 KiB by default (K = 4096 in one chunk at TM <= 2,
// K = 14336 in two at TM = 1). When one loop iteration does not fit, the f32 kernel is generated
// with the other knobs as given.
// `pair`: each output row reads two weight rows (multi_matmul's combine): twice the accumulators and
// live words per output row, so R is chosen for 2R weight rows.
MatvecLayout matvec_layout(const EmitContext& ctx, const MatvecTuning& t, const UnitFormat& unit, int64_t n,
                           int64_t tm, int64_t units_per_row, int64_t pair) {
  MatvecLayout l;
  l.tm = tm;
  l.units = t.units;
  l.sg = ctx.caps.subgroup_size;
  l.dot = t.dot == MatvecTuning::Dot::i8 && unit.dot_blocks > 0 && ctx.caps.integer_dot_product &&
          ctx.caps.subgroup_size_control && ctx.caps.subgroup_shuffle && l.sg >= 4;
  if (l.dot) {
    l.record_vec4 = 4 * unit.dot_blocks + 1;
    l.subgroup_rows = true;
    const uint32_t max_local = ctx.caps.max_workgroup_invocations;
    l.local = std::max(t.local ? std::min<uint32_t>(t.local, max_local) : std::min<uint32_t>(4 * l.sg, max_local), l.sg);
    auto workgroups = [&] { return (n + l.rows_per_workgroup() - 1) / l.rows_per_workgroup(); };
    if (t.rows) {
      l.r = t.rows;
    } else {
      l.r = 8;
      while (l.r > 2 && (l.r * pair * tm > 16 || l.r * pair * unit.words * l.units > 40 || workgroups() < 128)) l.r /= 2;
    }
    if (!t.local)
      while (l.local > l.sg && workgroups() < 128) l.local /= 2;
    while (workgroups() > 65535) l.r *= 2;
    l.stage_w = t.stage && unit.contiguous && (units_per_row * unit.words) % 4 == 0;
    // Shared memory: the x records of a chunk, the staged weights, Σx² per subgroup and row.
    const int64_t iteration_bytes = tm * l.step() * l.record_vec4 * 16;
    const int64_t fixed_bytes = (l.stage_w ? int64_t{l.groups()} * l.r * pair * l.sg * l.units * unit.words * 4 : 0) +
                                int64_t{l.groups()} * tm * 4;
    const int64_t room = int64_t{ctx.caps.max_shared_memory_bytes} - fixed_bytes;
    const int64_t budget = std::min<int64_t>(t.x_chunk_kib ? int64_t{t.x_chunk_kib} * 1024 : 24576, room);
    // At least one iteration per chunk, as for f32 staging (if that fits 24 KiB and the device).
    if (iteration_bytes <= std::min<int64_t>(std::max<int64_t>(budget, 24576), room)) {
      l.stage_x = true;
      const int64_t row_iterations = (units_per_row + l.step() - 1) / l.step();
      l.chunk_units = l.step() * std::min(row_iterations, std::max<int64_t>(1, budget / iteration_bytes));
      return l;
    }
    MatvecTuning f32 = t;
    f32.dot = MatvecTuning::Dot::off;
    return matvec_layout(ctx, f32, unit, n, tm, units_per_row, pair);
  }
  // A fused prologue (rms_norm, swiglu, geglu: passes fold them into decode projections) is applied
  // to all K inputs by every row group unless x is staged once per workgroup, which for quantized
  // weights (R = 4 rows of ~0.56-byte weights per group) costs more than the separate dispatch it
  // saves (H200, q4_0 14336x4096: 83 µs unstaged vs 17.7 + 4.4 for matvec + norm): quantized units
  // with a prologue get subgroup rows and staged x whatever the knobs say, where the device allows.
  const bool staged_prologue = unit.scaled &&
                               (ctx.op.kind == ir::OpKind::FusedMatMul || ctx.op.kind == ir::OpKind::MultiMatMul) &&
                               ctx.op.attr_str("prologue", "none") != "none" && ctx.caps.subgroup_arithmetic &&
                               unit.linear_columns();
  l.subgroup_rows = (t.subgroup_rows || staged_prologue) && ctx.caps.subgroup_size_control;
  const uint32_t max_local = ctx.caps.max_workgroup_invocations;
  if (t.local) l.local = std::min<uint32_t>(t.local, max_local);
  else if (l.subgroup_rows) l.local = std::min<uint32_t>(4 * l.sg, max_local);
  else
    l.local = std::min<uint32_t>(
        std::clamp<uint32_t>(std::bit_ceil(static_cast<uint32_t>(std::min<int64_t>(units_per_row, 128))), 32, 128),
        max_local);
  if (l.subgroup_rows) l.local = std::max(l.local, l.sg);
  auto workgroups = [&] { return (n + l.rows_per_workgroup() - 1) / l.rows_per_workgroup(); };
  if (t.rows) {
    l.r = t.rows;
  } else {
    l.r = 8;
    const int live_words = unit.words - unit.header_words;
    while (l.r > 2 && (l.r * pair * tm > 16 || l.r * pair * live_words * l.units > 64 || workgroups() < 256)) l.r /= 2;
  }
  if (l.subgroup_rows && !t.local)
    while (l.local > l.sg && workgroups() < 256) l.local /= 2;
  while (workgroups() > 65535) l.r *= 2;
  // The workgroup-split kernel stores output (m, r) from invocation m·R + r.
  if (!l.subgroup_rows) l.local = std::max<uint32_t>(l.local, std::bit_ceil(static_cast<uint32_t>(tm * l.r)));
  l.stage_w = t.stage && l.subgroup_rows && unit.contiguous && (units_per_row * unit.words) % 4 == 0;
  if ((t.stage_x || staged_prologue) && l.subgroup_rows && unit.linear_columns()) {
    // x of one loop iteration (step() units) per activation row, padded by a vec4 per unit; a chunk
    // is as many iterations as the budget holds (at least one, if that fits 24 KiB), no more than a row.
    const int64_t iteration_bytes = tm * l.step() * (unit.values + 4) * 4;
    const int64_t budget = t.x_chunk_kib ? int64_t{t.x_chunk_kib} * 1024 : 16384;
    if (iteration_bytes <= std::max<int64_t>(budget, 24576)) {
      l.stage_x = true;
      const int64_t row_iterations = (units_per_row + l.step() - 1) / l.step();
      l.chunk_units = l.step() * std::min(row_iterations, std::max<int64_t>(1, budget / iteration_bytes));
    }
  }
  return l;
}

// load_unit of a contiguous unit format: the unit's words straight from memory.
std::string contiguous_load_unit(const UnitFormat& unit, int64_t units_per_row) {
  return render(R"(void load_unit(uint row, uint u, out uint w[$W], out float scale[$G], out float bias[$G]) {
  U32s b = U32s(args.w);
  uint first = (row * $UNITS + u) * $WU;
  for (uint i = 0u; i < $WU; ++i) w[i] = b.v[first + i];
  unit_header(w, scale, bias);
}
)", {{"W", std::to_string(unit.words)}, {"WU", glsl_uint(unit.words)}, {"G", std::to_string(unit.groups)},
     {"UNITS", glsl_uint(units_per_row)}});
}

// load_window<N>(o, a): see the comment atop the generated GLSL (`o` in bytes).
std::string window_function(int words) {
  return render(R"(void load_window$N(uint o, out uint a[$N]) {
  U32s b = U32s(args.w);
  uint w = o >> 2u;
  bool odd = (o & 2u) != 0u;
  uint r[$N];
  for (uint i = 0u; i < $NU; ++i) r[i] = b.v[w + i];
  for (uint i = 0u; i < $LASTU; ++i) a[i] = funnel(r[i], r[i + 1u], odd);
  a[$LAST] = funnel(r[$LAST], 0u, odd);
}
)", {{"N", std::to_string(words)}, {"NU", glsl_uint(words)}, {"LAST", std::to_string(words - 1)},
     {"LASTU", glsl_uint(words - 1)}});
}

// dot=i8: packed 4 x int8 dot products through GL_EXT_spirv_intrinsics (glslang 12 has no
// GL_EXT_integer_dot_product). SPV_KHR_integer_dot_product: OpSDotKHR = 4450 (both operands signed),
// OpSUDotKHR = 4452 (operand 1 signed, operand 2 unsigned); capabilities DotProductKHR = 6019 and
// DotProductInput4x8BitPackedKHR = 6018; packed_format PackedVectorFormat4x8BitKHR = 0.
constexpr const char* kDotProductGlsl = R"(#extension GL_EXT_spirv_intrinsics : require
#extension GL_KHR_shader_subgroup_shuffle : require
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int dot_ss(uint a, uint b, spirv_literal int packed_format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4452)
int dot_su(uint a, uint b, spirv_literal int packed_format);
)";

// dot=i8: stage_x8 quantizes 8 consecutive x values (a, b), quarter `quarter` of one 32-column block
// whose 4 quarters are an aligned cluster of 4 lanes, into the x_stage record at uvec4 `record` (block
// `block` of the unit): max|x| of the block by two shuffles, s = max/(127·254), hi = round(x·127/max),
// lo = clamp(round((x − 254·s·hi)/s), ±127), so x ≈ s·(254·hi + lo) within max·1.6e-5. Record words:
// block b's hi bytes at 16b .. 16b + 7, lo bytes at 16b + 8 .. 16b + 15; the last uvec4 holds (s, t)
// of block b in components 2b, 2b + 1, where t = −8·Σx̃ (q4_0's offset; 0 for q8_0).
std::string dot_staging_glsl(const MatvecLayout& l, bool offset_term) {
  return render(R"(uint pack_low_bytes(uvec4 v) { return (v.x & 0xffu) | ((v.y & 0xffu) << 8u) | ((v.z & 0xffu) << 16u) | (v.w << 24u); }
void stage_x8(vec4 a, vec4 b, bool store, uint record, uint block, uint quarter) {
  vec4 m4 = max(abs(a), abs(b));
  float mx = max(max(m4.x, m4.y), max(m4.z, m4.w));
  mx = max(mx, subgroupShuffleXor(mx, 1u));
  mx = max(mx, subgroupShuffleXor(mx, 2u));
  bool live = mx > 1e-30;  // else (an all-zero block) hi = lo = 0
  float s = mx * (1.0 / 32258.0), s_hi = 254.0 * s;
  float inv_hi = live ? 127.0 / mx : 0.0, inv_lo = live ? 32258.0 / mx : 0.0;
  // Adding 1.5 * 2^23 rounds to an integer and leaves it, two's complement, in the low mantissa bits;
  // precise: no reassociation may fold the subtraction of the constant back into the product.
  const float MAGIC = 12582912.0;
  precise vec4 ha = fma(a, vec4(inv_hi), vec4(MAGIC)), hb = fma(b, vec4(inv_hi), vec4(MAGIC));
  precise vec4 ra = fma(vec4(-s_hi), ha - MAGIC, a), rb = fma(vec4(-s_hi), hb - MAGIC, b);
  precise vec4 la = clamp(ra * inv_lo, -127.0, 127.0) + MAGIC, lb = clamp(rb * inv_lo, -127.0, 127.0) + MAGIC;
  uint h0 = pack_low_bytes(floatBitsToUint(ha)), h1 = pack_low_bytes(floatBitsToUint(hb));
  uint l0 = pack_low_bytes(floatBitsToUint(la)), l1 = pack_low_bytes(floatBitsToUint(lb));
  float t = 0.0;
$OFFSET  if (store) {
    uint w = record * 4u + block * 16u + quarter * 2u;
    x_stage[w >> 2u][w & 3u] = h0;
    x_stage[(w + 1u) >> 2u][(w + 1u) & 3u] = h1;
    x_stage[(w + 8u) >> 2u][(w + 8u) & 3u] = l0;
    x_stage[(w + 9u) >> 2u][(w + 9u) & 3u] = l1;
    if (quarter == 0u) {
      uint st = record + $META;
      x_stage[st][2u * block] = floatBitsToUint(s);
      x_stage[st][2u * block + 1u] = floatBitsToUint(t);
    }
  }
}
)", {{"META", glsl_uint(l.record_vec4 - 1)},
     {"OFFSET", offset_term ? R"(  int sum = 254 * (dot_ss(h0, 0x01010101u, 0) + dot_ss(h1, 0x01010101u, 0)) +
            dot_ss(l0, 0x01010101u, 0) + dot_ss(l1, 0x01010101u, 0);
  sum += subgroupShuffleXor(sum, 1u);
  sum += subgroupShuffleXor(sum, 2u);
  t = -8.0 * s * float(sum);
)" : ""}});
}

// The kernel: see the top of this file.
KernelPlan emit_matvec(const EmitContext& ctx, const Fusion& f, const MatvecWeights& weights, int64_t const_rows,
                       const std::vector<std::string>& row_symbols, const UnitFormat& unit, const std::string& kind,
                       const MatvecTuning& tuning) {
  const ir::Shape& x = ctx.input(0).shape;
  const int64_t k = ctx.input(1).shape[1].value;
  const int64_t units_per_row = k / unit.values;
  const int64_t tm = activation_rows_per_group(ctx, const_rows, row_symbols);
  // Several weights (multi_matmul): a combine's row group reads rows r of both (accumulators r and
  // R + r); otherwise each workgroup serves one weight (`which`, its rows `n_cur`) and the layout is
  // chosen for all their rows together.
  const bool pair = weights.combined(), per_workgroup = !weights.single() && !pair;
  int64_t n = 0;
  for (int64_t rows : weights.rows) n = pair ? rows : n + rows;
  const MatvecLayout l = matvec_layout(ctx, tuning, unit, n, tm, units_per_row, pair ? 2 : 1);
  const int64_t out_rows = l.r, r_rows = pair ? 2 * l.r : l.r;  // outputs and weight rows per row group
  const std::string n_expr = per_workgroup ? "n_cur" : glsl_uint(n);
  // Weight row r's buffer in main (staged weights): one handle, or the pair's gate and up handles.
  auto w16_of = [&](int64_t r) { return pair ? fmt::format("w16_{}", r / out_rows) : std::string("w16"); };
  const bool rms = f.prologue == "rms_norm";
  const int64_t sums = tm * r_rows + (rms ? tm : 0);  // per subgroup: the dot products, then Σx² per row
  const int G = unit.groups, per_group_vec4 = unit.values / 4 / G;
  const std::string lane = l.subgroup_rows ? "gl_SubgroupInvocationID" : "gl_LocalInvocationIndex";
  const bool ragged = units_per_row % l.step() != 0;  // the last iteration has lanes past the row's end
  const int64_t span_words = int64_t{l.sg} * l.units * unit.words;  // stage_w: one row's words per iteration
  // x staging: per activation row, the chunk's columns as vec4s, one vec4 of padding after each unit
  // (so lanes reading the same vec4 of consecutive units hit different banks); dot: the chunk's
  // records of record_vec4 uvec4s (9 or 5: odd, so 8 lanes reading uvec4 i of consecutive records hit
  // 8 different 4-bank groups).
  const int64_t unit_vec4 = unit.values / 4,
                x_row_vec4 = l.chunk_units * (l.dot ? l.record_vec4 : unit_vec4 + 1);

  // Straight-line GLSL for one loop iteration (`body`, then the subgroup sums: `reduction`): every
  // array index is a constant, so everything stays in registers.
  std::string body, reduction;
  std::string* out = &body;
  auto line = [&out](int indent, const std::string& s) { *out += std::string(indent, ' ') + s + "\n"; };
  // Code for activation rows m = 0..tm-1: row 0 always exists, row m only when rows > m (nested so a
  // single row costs one branch).
  auto for_rows = [&](int indent, const std::function<void(int, int)>& emit) {
    emit(0, indent);
    for (int m = 1; m < tm; ++m) {
      line(indent + 2 * (m - 1), fmt::format("if (rows > {}u) {{", m));
      emit(m, indent + 2 * m);
    }
    for (int m = static_cast<int>(tm) - 1; m >= 1; --m) line(indent + 2 * (m - 1), "}");
  };
  for (int j = 0; j < l.units; ++j) {
    const std::string u = fmt::format("{} + {} + {}u", "base", lane, j * int64_t{l.stride()});
    if (ragged) line(4, fmt::format("bool in{0} = {1} < {2}; uint u{0} = min({1}, {2} - 1u);", j, u, glsl_uint(units_per_row)));
    else line(4, fmt::format("uint u{} = {};", j, u));
  }
  if (l.stage_w) {
    // Each row group's R rows: the iteration's span of words, in 16-byte loads of consecutive lanes,
    // into this subgroup's slice of shared memory; then every lane reads its units from there.
    // Straight-line: every row's loads are issued before the first store, so their latencies overlap.
    line(4, "subgroupBarrier();  // the previous iteration's reads of w_stage are done");
    const int64_t span4 = span_words / 4, per_lane = (span4 + l.sg - 1) / l.sg;
    for (int r = 0; r < r_rows; ++r)
      for (int64_t c = 0; c < per_lane; ++c)
        line(4, fmt::format("uvec4 ws{}_{} = {}.v[min(((wrow{} * {} + base) * {} >> 2u) + {} + {}u, {})];", r, c,
                            w16_of(r), r, glsl_uint(units_per_row), glsl_uint(unit.words), lane, c * l.sg,
                            per_workgroup ? fmt::format("n_cur * {} - 1u", glsl_uint(units_per_row * unit.words / 4))
                                          : glsl_uint(n * units_per_row * unit.words / 4 - 1)));
    for (int r = 0; r < r_rows; ++r)
      for (int64_t c = 0; c < per_lane; ++c) {
        const std::string store = fmt::format("w_stage[(gl_SubgroupID * {} + {}u) * {} + {} + {}u] = ws{}_{};",
                                              glsl_uint(r_rows), r, glsl_uint(span4), lane, c * l.sg, r, c);
        if ((c + 1) * l.sg <= span4) line(4, store);
        else line(4, fmt::format("if ({} + {}u < {}) {}", lane, c * l.sg, glsl_uint(span4), store));
      }
    line(4, "subgroupMemoryBarrierShared();");
    line(4, "subgroupBarrier();");
  }
  for (int j = 0; j < l.units; ++j)
    for (int r = 0; r < r_rows; ++r) {
      line(4, fmt::format("uint w{0}_{1}[{2}]; float scale{0}_{1}[{3}], bias{0}_{1}[{3}];", j, r, unit.words, G));
      if (l.stage_w) {
        line(4, fmt::format("{{ uint o = (gl_SubgroupID * {} + {}u) * {} + ({} + {}u) * {};", glsl_uint(r_rows), r,
                            glsl_uint(span_words), lane, j * int64_t{l.sg}, glsl_uint(unit.words)));
        for (int i = 0; i < unit.words; ++i)
          line(6, fmt::format("w{0}_{1}[{2}] = w_stage[(o + {2}u) >> 2u][(o + {2}u) & 3u];", j, r, i));
        line(6, fmt::format("unit_header(w{0}_{1}, scale{0}_{1}, bias{0}_{1}); }}", j, r));
      } else {
        line(4, fmt::format("{2}load_unit(wrow{1}, u{0}, w{0}_{1}, scale{0}_{1}, bias{0}_{1});", j, r,
                            pair ? fmt::format("w_cur = U32s(args.{}); ", weights.args[r / out_rows]) : ""));
      }
    }
  if (l.dot) {
    // Per unit and block: the R rows' quant words aligned (one funnel shift each where the block's
    // quants start at byte 2 mod 4) and, for q4_0, split into low nibbles (values 4i..4i+3, i < 4)
    // and high nibbles (values 16 + 4i..), so word i of the quants always pairs with word i of the
    // staged hi and lo bytes; per activation row A = Σ q·hi and B = Σ q·lo by packed dot products
    // (signed x, unsigned q4_0 / signed q8_0 quants), and acc += d·(s·float(254·A + B) + t).
    const int quant_words = unit.dot_signed ? 8 : 4;
    const std::string dot_fn = unit.dot_signed ? "dot_ss" : "dot_su";
    for (int j = 0; j < l.units; ++j) {
      line(4, ragged ? fmt::format("if (in{}) {{", j) : std::string("{"));
      line(6, fmt::format("uint xr = (u{} - chunk) * {};", j, glsl_uint(l.record_vec4)));
      for (int b = 0; b < unit.dot_blocks; ++b) {
        const int first = 2 + b * unit.dot_block_bytes, word = first / 4;
        line(6, fmt::format("{{  // block {}: quants from byte {}", b, first));
        for (int r = 0; r < r_rows; ++r) {
          const std::string w = fmt::format("w{}_{}", j, r);
          for (int i = 0; i < quant_words; ++i) {
            const std::string aligned = first % 4 ? fmt::format("({0}[{1}] >> 16u) | ({0}[{2}] << 16u)", w, word + i, word + i + 1)
                                                  : fmt::format("{}[{}]", w, word + i);
            if (unit.dot_signed) {
              line(8, fmt::format("uint q{}_{} = {};", r, i, aligned));
            } else {
              line(8, fmt::format("uint a{0}_{1} = {2}, q{0}_{1} = a{0}_{1} & 0x0f0f0f0fu, q{0}_{3} = (a{0}_{1} >> 4u) & 0x0f0f0f0fu;",
                                  r, i, aligned, i + 4));
            }
          }
        }
        for_rows(8, [&](int m, int ind) {
          line(ind, "{");
          line(ind + 2, fmt::format("uint xm = xr + {}u;", m * x_row_vec4));
          line(ind + 2, fmt::format("uvec4 h0 = x_stage[xm + {0}u], h1 = x_stage[xm + {1}u], l0 = x_stage[xm + {2}u], "
                                    "l1 = x_stage[xm + {3}u];", 4 * b, 4 * b + 1, 4 * b + 2, 4 * b + 3));
          line(ind + 2, fmt::format("vec2 st = uintBitsToFloat(x_stage[xm + {}u].{});", l.record_vec4 - 1,
                                    b == 0 ? "xy" : "zw"));
          for (int r = 0; r < r_rows; ++r) {
            std::string a, bsum;
            for (int i = 0; i < 8; ++i) {
              const char c = "xyzw"[i % 4];
              a += fmt::format("{}{}(h{}.{}, q{}_{}, 0)", i ? " + " : "", dot_fn, i / 4, c, r, i);
              bsum += fmt::format("{}{}(l{}.{}, q{}_{}, 0)", i ? " + " : "", dot_fn, i / 4, c, r, i);
            }
            line(ind + 2, fmt::format("int a{} = {};", r, a));
            line(ind + 2, fmt::format("int b{} = {};", r, bsum));
            if (unit.dot_signed)
              line(ind + 2, fmt::format("acc{0}_{1} = fma(scale{2}_{1}[{3}] * st.x, float(a{1} * 254 + b{1}), acc{0}_{1});",
                                        m, r, j, b));
            else
              line(ind + 2, fmt::format("acc{0}_{1} = fma(scale{2}_{1}[{3}], fma(st.x, float(a{1} * 254 + b{1}), st.y), "
                                        "acc{0}_{1});", m, r, j, b));
          }
          line(ind, "}");
        });
        line(6, "}");
      }
      line(4, "}");
    }
  }
  for (int j = 0; !l.dot && j < l.units; ++j) {
    const int in = 6;
    line(4, ragged ? fmt::format("if (in{}) {{", j) : std::string("{"));
    line(in, fmt::format("uint column = unit_column(u{});", j));
    if (l.stage_x) line(in, fmt::format("uint xs = (u{} - chunk) * {};", j, glsl_uint(unit_vec4 + 1)));
    if (unit.scaled)
      for (int m = 0; m < tm; ++m) {
        std::string decl = "float ";
        for (int r = 0; r < r_rows; ++r) decl += fmt::format("{}p{}_{} = 0.0", r ? ", " : "", m, r);
        if (unit.bias) decl += fmt::format(", sx{} = 0.0", m);
        line(in, decl + ";");
      }
    for (int q = 0; q < unit.values / 4; ++q) {
      const int off = unit.x_offsets.at(q);
      line(in, fmt::format("{{  // values {}..{}", 4 * q, 4 * q + 3));
      for (int r = 0; r < r_rows; ++r) {
        const std::string w = fmt::format("w{}_{}", j, r);
        line(in + 2, fmt::format("vec4 q{} = vec4({}, {}, {}, {});", r, unit.value(4 * q, w), unit.value(4 * q + 1, w),
                                 unit.value(4 * q + 2, w), unit.value(4 * q + 3, w)));
      }
      for_rows(in + 2, [&](int m, int ind) {
        line(ind, "{");
        if (l.stage_x) {
          // Column `column + off` sits at vec4 (off / 4) of the unit's padded slot: unit_column is
          // linear within a unit for every format but q6_K, whose x_offsets keep to its 8-unit blocks.
          line(ind + 2, fmt::format("vec4 xv = x_stage[{} + xs + {}u];", glsl_uint(m * x_row_vec4), off / 4));
        } else {
          line(ind + 2, fmt::format("uint e = (row0 + {}u) * {} + column + {}u;", m, glsl_uint(k), off));
          line(ind + 2, fmt::format("vec4 xv = fused_x4(x16.v[e >> 2u], e, column + {}u, ss{});", off, m));
        }
        if (unit.bias) line(ind + 2, fmt::format("sx{} += (xv.x + xv.y) + (xv.z + xv.w);", m));
        for (int r = 0; r < r_rows; ++r) {
          const std::string p = unit.scaled ? fmt::format("p{}_{}", m, r) : fmt::format("acc{}_{}", m, r);
          line(ind + 2, fmt::format("{0} = fma(xv.x, q{1}.x, {0}); {0} = fma(xv.y, q{1}.y, {0}); "
                                    "{0} = fma(xv.z, q{1}.z, {0}); {0} = fma(xv.w, q{1}.w, {0});",
                                    p, r));
        }
        line(ind, "}");
      });
      line(in, "}");
      if (unit.scaled && (q + 1) % per_group_vec4 == 0) {
        const int g = (q + 1) / per_group_vec4 - 1;
        for_rows(in, [&](int m, int ind) {
          for (int r = 0; r < r_rows; ++r)
            line(ind, fmt::format("acc{0}_{1} += scale{4}_{1}[{2}] * p{0}_{1}{3}; p{0}_{1} = 0.0;", m, r, g,
                                  unit.bias ? fmt::format(" + bias{}_{}[{}] * sx{}", j, r, g, m) : "", j));
          if (unit.bias) line(ind, fmt::format("sx{} = 0.0;", m));
        });
      }
    }
    line(4, "}");
  }

  std::string declarations;
  for (int r = 0; r < r_rows; ++r)
    declarations += fmt::format("  uint wrow{} = min(col0 + {}u, {} - 1u);\n", r, r % out_rows, n_expr);
  for (int m = 0; m < tm; ++m) {
    declarations += fmt::format("  float ss{} = 0.0", m);
    for (int r = 0; r < r_rows; ++r) declarations += fmt::format(", acc{}_{} = 0.0", m, r);
    declarations += ";\n";
  }
  out = &reduction;
  if (l.subgroup_rows) {
    // The row group is the subgroup: its sums are final after subgroupAdd (Σx² of a staged x was
    // accumulated across the whole workgroup: summed through shared memory first).
    if (rms && l.stage_x) {
      for_rows(2, [&](int m, int in) {
        line(in, fmt::format("sum = subgroupAdd(ss{0}); if (subgroupElect()) ss_part[gl_SubgroupID * {1} + {0}u] = sum;",
                             m, glsl_uint(tm)));
      });
      line(2, "barrier();");
    }
    if (pair) line(2, "float up;");
    for_rows(2, [&](int m, int in) {
      if (rms) {
        if (l.stage_x) {
          line(in, fmt::format("float row_ss{} = 0.0;", m));
          line(in, fmt::format("for (uint s = 0u; s < {}; ++s) row_ss{} += ss_part[s * {} + {}u];", glsl_uint(l.groups()),
                               m, glsl_uint(tm), m));
        } else {
          line(in, fmt::format("float row_ss{0} = subgroupAdd(ss{0});", m));
        }
      }
      const std::string ss = rms ? fmt::format("row_ss{}", m) : "0.0";
      for (int r = 0; r < out_rows; ++r) {
        std::string store = fmt::format("st_result(o, fused_out(sum, {}, o));", ss);
        if (pair) {
          line(in, fmt::format("up = subgroupAdd(acc{}_{});", m, r + out_rows));
          store = fmt::format("st_result(o, combine_outputs(fused_out(sum, {0}, o), fused_out(up, {0}, o)));", ss);
        } else if (per_workgroup) {
          store = fmt::format("st_out(which, o, fused_out(sum, {}, o));", ss);
        }
        line(in, fmt::format("sum = subgroupAdd(acc{0}_{1}); if (subgroupElect() && col0 + {1}u < {2}) {{ "
                             "uint o = (row0 + {0}u) * {2} + col0 + {1}u; {3} }}",
                             m, r, n_expr, store));
      }
    });
  } else {
    for_rows(2, [&](int m, int in) {
      for (int r = 0; r < r_rows; ++r)
        line(in, fmt::format("sum = subgroupAdd(acc{0}_{1}); if (subgroupElect()) matvec_part[base + {2}u] = sum;", m,
                             r, m * r_rows + r));
      if (rms)
        line(in, fmt::format("sum = subgroupAdd(ss{0}); if (subgroupElect()) matvec_part[base + {1}u] = sum;", m,
                             tm * r_rows + m));
    });
  }

  // Shared memory: the workgroup-split kernel's partial sums, sized for subgroups of one invocation
  // unless the kernel fixes the subgroup size; the staged weights and x.
  KernelPlan plan;
  if (ctx.caps.subgroup_size_control) plan.required_subgroup_size = l.sg;
  const int64_t part_slots =
      l.subgroup_rows ? 0 : int64_t{plan.required_subgroup_size ? std::max<uint32_t>(1, l.local / l.sg) : l.local} * sums;
  const int64_t w_stage_vec4 = l.stage_w ? l.groups() * r_rows * span_words / 4 : 0;
  const int64_t x_stage_vec4 = l.stage_x ? tm * x_row_vec4 : 0;
  const int64_t ss_slots = l.stage_x && rms ? l.groups() * tm : 0;
  const int64_t shared_bytes = 4 * (part_slots + ss_slots) + 16 * (w_stage_vec4 + x_stage_vec4);
  if (shared_bytes > ctx.caps.max_shared_memory_bytes)
    ctx.fail(fmt::format("the matvec tuning {} needs {} bytes of shared memory; the device has {}", tuning_text(tuning),
                         shared_bytes, ctx.caps.max_shared_memory_bytes));
  std::string shared;
  if (part_slots) shared += fmt::format("shared float matvec_part[{}];  // [subgroup][sum]\n", part_slots);
  if (w_stage_vec4) shared += fmt::format("shared uvec4 w_stage[{}];  // [subgroup][weight row][span]\n", w_stage_vec4);
  if (x_stage_vec4 && !l.dot)
    shared += fmt::format("shared vec4 x_stage[{}];  // [activation row][unit][vec4 + pad]\n", x_stage_vec4);
  if (x_stage_vec4 && l.dot)
    shared += fmt::format("shared uvec4 x_stage[{}];  // [activation row][unit][record]\n", x_stage_vec4) +
              dot_staging_glsl(l, !unit.dot_signed);
  if (ss_slots) shared += fmt::format("shared float ss_part[{}];  // [subgroup][activation row]: Σx² of staged x\n", ss_slots);

  // The loop over the row's units; with staged x, inside a loop over chunks that stages each first.
  std::string loop = render(R"(  for (uint base = $FIRST; base < $END; base += $STEP) {
$BODY  }
)", {{"FIRST", l.stage_x ? "chunk" : "0u"},
     {"END", l.stage_x ? fmt::format("min(chunk + {}, {})", glsl_uint(l.chunk_units), glsl_uint(units_per_row))
                       : glsl_uint(units_per_row)},
     {"STEP", glsl_uint(l.step())}, {"BODY", body}});
  if (l.dot) {
    // Staging in passes of up to 4 / TM items per invocation (at most 8 x vec4s in flight), straight-
    // line: every item's x loads (and the prologue's) before any quantization. An item is 8 columns,
    // a quarter of a 32-column block, for every activation row; the 4 items of a block are an aligned
    // cluster of 4 lanes of one subgroup (item index = subgroup · size + lane), which share the
    // block's max|x| and sum by shuffles. The pass loop is uniform (items past the chunk or the row
    // compute on clamped indices and store nothing), so every lane takes part in the shuffles.
    const int64_t items = l.chunk_units * unit.dot_blocks * 4;
    const int64_t per_pass = std::min<int64_t>((items + l.local - 1) / l.local, std::max<int64_t>(1, 4 / tm));
    const std::string bpu = glsl_uint(unit.dot_blocks);
    std::string stage;
    for (int64_t t = 0; t < per_pass; ++t) {
      stage += fmt::format("      uint it_{0} = i0 + {1}u, blk_{0} = min(it_{0}, {2} - 1u) >> 2u, unit_{0} = chunk + blk_{0} / {3};\n",
                           t, t * l.local, glsl_uint(items), bpu);
      stage += fmt::format("      bool staged_{0} = it_{0} < {1} && unit_{0} < {2};\n", t, glsl_uint(items),
                           glsl_uint(units_per_row));
      stage += fmt::format("      uint col_{0} = unit_column(min(unit_{0}, {1} - 1u)) + (blk_{0} % {2}) * 32u + (it_{0} & 3u) * 8u;\n",
                           t, glsl_uint(units_per_row), bpu);
    }
    for (int m = 0; m < tm; ++m)
      for (int64_t t = 0; t < per_pass; ++t)
        stage += fmt::format(
            "      uint e{0}_{1} = (row0 + min({0}u, rows - 1u)) * {2} + col_{1}; float ss{0}_{1} = 0.0;\n"
            "      vec4 xa{0}_{1} = fused_x4(x16.v[e{0}_{1} >> 2u], e{0}_{1}, col_{1}, ss{0}_{1});\n"
            "      vec4 xb{0}_{1} = fused_x4(x16.v[(e{0}_{1} >> 2u) + 1u], e{0}_{1} + 4u, col_{1} + 4u, ss{0}_{1});\n",
            m, t, glsl_uint(k));
    for (int m = 0; m < tm; ++m)
      for (int64_t t = 0; t < per_pass; ++t)
        stage += fmt::format("      stage_x8(xa{0}_{1}, xb{0}_{1}, staged_{1} && rows > {0}u, {2} + (unit_{1} - chunk) * {3}, "
                             "blk_{1} % {4}, it_{1} & 3u);\n"
                             "      if (staged_{1} && rows > {0}u) ss{0} += ss{0}_{1};\n",
                             m, t, glsl_uint(m * x_row_vec4), glsl_uint(l.record_vec4), bpu);
    loop = render(R"(  for (uint chunk = 0u; chunk < $UNITS; chunk += $CHUNK) {
    barrier();  // the previous chunk's reads of x_stage are done
    for (uint p0 = 0u; p0 < $ITEMS; p0 += $PASS) {
      uint i0 = p0 + gl_SubgroupID * $SG + gl_SubgroupInvocationID;
$STAGE    }
    barrier();
$LOOP  }
)", {{"UNITS", glsl_uint(units_per_row)}, {"CHUNK", glsl_uint(l.chunk_units)}, {"ITEMS", glsl_uint(items)},
     {"PASS", glsl_uint(per_pass * l.local)}, {"SG", glsl_uint(l.sg)}, {"STAGE", stage}, {"LOOP", loop}});
  } else if (l.stage_x) {
    // Staging in passes of up to 8 vec4s per invocation and activation row, straight-line: every load
    // of a pass (x, and the prologue's g or up, at clamped in-bounds indices) before any store.
    const int64_t chunk_vec4 = l.chunk_units * unit_vec4;
    const int64_t trips = (chunk_vec4 + l.local - 1) / l.local, per_pass = std::min<int64_t>(trips, 8);
    std::string stage;
    for (int64_t t = 0; t < per_pass; ++t) {
      stage += fmt::format("      uint c4_{0} = i0 + {1}u, unit_{0} = chunk + c4_{0} / {2};\n", t, t * l.local,
                           glsl_uint(unit_vec4));
      stage += fmt::format("      bool staged_{0} = c4_{0} < {1} && unit_{0} < {2};\n", t, glsl_uint(chunk_vec4),
                           glsl_uint(units_per_row));
      stage += fmt::format("      uint col_{0} = unit_column(min(unit_{0}, {1} - 1u)) + (c4_{0} % {2}) * 4u;\n", t,
                           glsl_uint(units_per_row), glsl_uint(unit_vec4));
    }
    for (int m = 0; m < tm; ++m)
      for (int64_t t = 0; t < per_pass; ++t)
        stage += fmt::format(
            "      uint e{0}_{1} = (row0 + min({0}u, rows - 1u)) * {2} + col_{1}; float ss{0}_{1} = 0.0;\n"
            "      vec4 xs{0}_{1} = fused_x4(x16.v[e{0}_{1} >> 2u], e{0}_{1}, col_{1}, ss{0}_{1});\n",
            m, t, glsl_uint(k));
    for (int m = 0; m < tm; ++m)
      for (int64_t t = 0; t < per_pass; ++t)
        stage += fmt::format("      if (staged_{1} && rows > {0}u) {{ x_stage[{2} + (c4_{1} / {3}) * {4} + c4_{1} % {3}] = "
                             "xs{0}_{1}; ss{0} += ss{0}_{1}; }}\n",
                             m, t, glsl_uint(m * x_row_vec4), glsl_uint(unit_vec4), glsl_uint(unit_vec4 + 1));
    loop = render(R"(  for (uint chunk = 0u; chunk < $UNITS; chunk += $CHUNK) {
    barrier();  // the previous chunk's reads of x_stage are done
    for (uint i0 = gl_LocalInvocationIndex; i0 < $CHUNK_VEC4; i0 += $PASS) {
$STAGE    }
    barrier();
$LOOP  }
)", {{"UNITS", glsl_uint(units_per_row)}, {"CHUNK", glsl_uint(l.chunk_units)},
     {"CHUNK_VEC4", glsl_uint(chunk_vec4)}, {"PASS", glsl_uint(per_pass * l.local)}, {"STAGE", stage}, {"LOOP", loop}});
  }

  const std::string weights_tag = unit.scaled ? "u" + std::to_string(unit.values) : "";
  // Knob values in the name: local size, units per lane and iteration, workgroup- or subgroup-split
  // rows, staged weights / x.
  const std::string knobs = fmt::format("_l{}v{}{}{}{}{}", l.local, l.units, l.subgroup_rows ? "sg" : "wg",
                                        l.stage_w ? "ws" : "", l.stage_x ? "xs" : "", l.dot ? "i8" : "");
  std::string rows_text;  // N, or every weight's N
  for (int64_t rows : weights.rows)
    if (rows_text.empty() || per_workgroup) rows_text += fmt::format("{}{}", rows_text.empty() ? "" : "_", rows);
  plan.name = kernel_name(ctx, fmt::format("n{}_{}{}x{}{}{}{}", rows_text, kind, tm, out_rows, weights_tag, knobs, f.tag));
  plan.arg_names = f.arg_names;
  plan.local_size = l.local;
  plan.grid[0] = GridDim{multi_groups(weights, l.rows_per_workgroup()), {}, 1};
  plan.grid[1] = GridDim{const_rows, row_symbols, tm};
  // The weight reads: the one weight's, or (several) those of w_cur, the weight being read, chosen per
  // workgroup (`which`) or, for a combine's pair, before each row's load.
  const std::string read_weight = weights.single() ? "(args.w)" : "(w_cur)";
  std::string w16_decl = "W16 w16 = W16(args.w);";
  if (per_workgroup) w16_decl = "W16 w16 = W16(w_cur);";
  if (pair) w16_decl = fmt::format("W16 w16_0 = W16(args.{}), w16_1 = W16(args.{});", weights.args[0], weights.args[1]);
  std::string weight_readers = window_function(9) + window_function(5) +
                               "uint halfword_at(uint o) { return (U32s(args.w).v[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu; }\n" +
                               unit.glsl + (unit.contiguous ? contiguous_load_unit(unit, units_per_row) : "");
  for (size_t at = weight_readers.find("(args.w)"); at != std::string::npos;
       at = weight_readers.find("(args.w)", at + read_weight.size()))
    weight_readers.replace(at, 8, read_weight);
  const std::map<std::string, std::string> vars{
      {"TM", glsl_uint(tm)},
      {"RPW", glsl_uint(l.rows_per_workgroup())},
      {"GROUP_ROW", l.subgroup_rows ? fmt::format(" + gl_SubgroupID * {}", glsl_uint(out_rows)) : ""},
      {"GROUP_X", per_workgroup ? "(gl_WorkGroupID.x - first_group)" : "gl_WorkGroupID.x"},
      {"SELECT", per_workgroup ? select_weight_glsl(weights, l.rows_per_workgroup(), "w_cur = U32s(args.$W);") : ""},
      {"W16_DECL", w16_decl},
      {"M", ctx.product(x, 0, x.size() - 1)},
      {"N", n_expr},
      {"J", glsl_uint(sums)},
      {"TR", glsl_uint(tm * out_rows)},
      {"DECLS", declarations},
      {"LOOP", loop},
      {"REDUCE", reduction},
      {"SHARED", shared},
      {"ROW_SS", rms ? fmt::format("matvec_part[s * {} + {} + m]", glsl_uint(sums), glsl_uint(tm * r_rows)) : "0.0"}};
  plan.body = (l.dot ? kDotProductGlsl : "") + f.glsl + (weights.single() ? "" : multi_output_glsl(weights)) + R"(
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer W16 { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer U32s { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer WideF { vec4 v[]; };
)" + (weights.single() ? "" : "U32s w_cur;  // the weight being read (multi_matmul)\n") + R"(// The 2-byte-aligned ggml blocks (q8_0, q4_0, q6_K) are partly read in 32-bit words: load_windowN(o, a)
// loads the N aligned words from o rounded down to 4 bytes and, when o is not 4-byte aligned, shifts
// them by a half word, so a[i] holds bytes o + 4i .. o + 4i + 3 — except that the top half of a[N-1]
// is then missing. The words read lie in [o - 2, o + 4N): callers need bytes up to o + 4N - 2, so
// at most 2 bytes past a tensor's end are read, inside its buffer, which the runtime rounds up to
// 4 bytes (runtime/model_buffers.cpp, runtime/graph_executor.cpp).
uint funnel(uint lo, uint hi, bool odd) { return odd ? (lo >> 16u) | (hi << 16u) : lo; }
)" + weight_readers + render(R"($SHARED
void main() {
$SELECT  uint row0 = gl_WorkGroupID.y * $TM, col0 = $GROUP_X * $RPW$GROUP_ROW;
  uint rows = min($TM, $M - row0);
  WideF x16 = WideF(args.x);
  $W16_DECL
  // Weight rows past N re-read row N - 1 (in bounds); their sums are never stored.
$DECLS$LOOP  float sum;
)", vars);
  if (l.subgroup_rows) {
    plan.body += reduction + "}\n";
  } else {
    plan.body += render(R"(  uint base = gl_SubgroupID * $J;
$REDUCE  barrier();
  uint t = gl_LocalInvocationIndex, m = t / $R, r = t % $R;
  if (t < $TR && m < rows && col0 + r < $N) {
    float total = 0.0, row_ss = 0.0$UP_DECL;
    for (uint s = 0u; s < gl_NumSubgroups; ++s) {
      total += matvec_part[s * $J + $SLOT];$UP_SUM
      row_ss += $ROW_SS;
    }
    uint o = (row0 + m) * $N + col0 + r;
    $STORE
  }
}
)", [&] {
      // Output (m, r) sums the slots of its weight rows: m·R + r (a pair: m·2R + r, and R further up).
      auto v = vars;
      v["R"] = glsl_uint(out_rows);
      v["SLOT"] = pair ? fmt::format("m * {} + r", glsl_uint(r_rows)) : "t";
      v["UP_DECL"] = pair ? ", up = 0.0" : "";
      v["UP_SUM"] = pair ? fmt::format("\n      up += matvec_part[s * {} + m * {} + {} + r];", glsl_uint(sums),
                                       glsl_uint(r_rows), glsl_uint(out_rows))
                         : "";
      v["STORE"] = pair ? "st_result(o, combine_outputs(fused_out(total, row_ss, o), fused_out(up, row_ss, o)));"
                   : per_workgroup ? "st_out(which, o, fused_out(total, row_ss, o));"
                                   : "st_result(o, fused_out(total, row_ss, o));";
      return v;
    }());
  }
  return plan;
}

}  // namespace

bool quantized_row_vector_kernel_fits(const EmitContext& ctx) {
  const ir::DType w = ctx.input(1).dtype;
  return ctx.caps.subgroup_arithmetic && ctx.input(0).dtype == ir::DType::F32 && ir::is_quantized(w) &&
         ctx.input(1).shape[1].is_const();
}

KernelPlan emit_quantized_row_vector_matmul(const EmitContext& ctx, const Fusion& f, const MatvecWeights& weights,
                                            int64_t const_rows, const std::vector<std::string>& row_symbols) {
  const ir::DType w = ctx.input(1).dtype;
  return emit_matvec(ctx, f, weights, const_rows, row_symbols, quantized_unit_format(w, ctx.input(1).shape[1].value),
                     "qmatvec", ctx.caps.qmatvec);
}

KernelPlan emit_float_matvec(const EmitContext& ctx, const Fusion& f, const MatvecWeights& weights, int64_t const_rows,
                             const std::vector<std::string>& row_symbols) {
  return emit_matvec(ctx, f, weights, const_rows, row_symbols,
                     float_unit(ctx.input(1).dtype, ctx.input(1).shape[1].value), "matvec", ctx.caps.fmatvec);
}

}  // namespace vkllm::codegen::ops
