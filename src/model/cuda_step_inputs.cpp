#include "model/cuda_step_inputs.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "core/error.h"

namespace gptoss {

CudaStepInputs::Layout CudaStepInputs::layout(const StepShape& s) {
  Layout l{};
  size_t at = 0;
  auto take = [&](size_t bytes) {
    const size_t here = at;
    at += bytes;
    return here;
  };
  l.tokens = take(size_t(s.tokens) * 4);
  l.feed = take(size_t(s.tokens) * 4);
  l.pos = take(size_t(s.tokens) * 4);
  l.seq = take(size_t(s.tokens) * 4);
  l.rows = take(size_t(s.rows) * 4);
  l.window_len = take(size_t(s.seqs) * 4);
  at = (at + 15) / 16 * 16;
  l.choice = take(size_t(s.rows) * sizeof(RowChoice));
  l.bytes = at;
  return l;
}

CudaStepInputs::CudaStepInputs(int max_tokens, int max_rows, int max_seqs)
    : max_tokens_(max_tokens), max_rows_(max_rows), max_seqs_(max_seqs) {
  const size_t bytes = layout({max_tokens, max_rows, max_seqs}).bytes;
  GPTOSS_CUDA_CHECK(cudaMalloc(&device_packed_, bytes));
  for (HostSlot& h : host_) GPTOSS_CUDA_CHECK(cudaMallocHost(&h.packed, bytes));
}

CudaStepInputs::~CudaStepInputs() {
  cudaFree(device_packed_);
  cudaFree(device_full_);
  cudaFree(device_window_);
  for (HostSlot& h : host_) {
    cudaFreeHost(h.packed);
    cudaFreeHost(h.full);
    cudaFreeHost(h.window);
  }
}

void CudaStepInputs::allocate_tables(int full_pitch, int window_pitch) {
  // Checked: a failing free here means a pointer this object does not own.
  for (int32_t* p : {device_full_, device_window_})
    if (p) GPTOSS_CUDA_CHECK(cudaFree(p));
  for (HostSlot& h : host_)
    for (int32_t* p : {h.full, h.window})
      if (p) GPTOSS_CUDA_CHECK(cudaFreeHost(p));
  full_pitch_ = full_pitch, window_pitch_ = window_pitch;
  const size_t full = size_t(max_seqs_) * size_t(full_pitch) * 4, window = size_t(max_seqs_) * size_t(window_pitch) * 4;
  GPTOSS_CUDA_CHECK(cudaMalloc(&device_full_, full));
  GPTOSS_CUDA_CHECK(cudaMalloc(&device_window_, window));
  for (HostSlot& h : host_) {
    GPTOSS_CUDA_CHECK(cudaMallocHost(&h.full, full));
    GPTOSS_CUDA_CHECK(cudaMallocHost(&h.window, window));
    h.full_n.assign(size_t(max_seqs_), 0);
    h.window_n.assign(size_t(max_seqs_), 0);
  }
  full_shadow_ = {std::vector<int32_t>(size_t(max_seqs_) * size_t(full_pitch)), std::vector<int>(size_t(max_seqs_)), full_pitch};
  window_shadow_ = {std::vector<int32_t>(size_t(max_seqs_) * size_t(window_pitch)), std::vector<int>(size_t(max_seqs_)),
                    window_pitch};
}

bool CudaStepInputs::TableShadow::holds(int s, std::span<const int32_t> blocks) const {
  return known[size_t(s)] >= int(blocks.size()) &&
         std::equal(blocks.begin(), blocks.end(), ids.begin() + ptrdiff_t(size_t(s) * size_t(pitch)));
}

void CudaStepInputs::TableShadow::record(int s, std::span<const int32_t> blocks) {
  std::copy(blocks.begin(), blocks.end(), ids.begin() + ptrdiff_t(size_t(s) * size_t(pitch)));
  known[size_t(s)] = int(blocks.size());
}

StagedStep CudaStepInputs::stage(int slot, const ForwardBatch& batch, int V, int bs, bool full_blocks,
                                 int previous_rows) {
  const int T = batch.total_tokens(), nseq = int(batch.seqs.size());
  if (T > max_tokens_)
    throw Error("a step of " + std::to_string(T) + " tokens exceeds the runner's limit of " + std::to_string(max_tokens_));
  if (nseq > max_seqs_) throw Error("a step may hold at most " + std::to_string(max_seqs_) + " sequences");
  const int rows_needed = batch.logits_rows();
  if (rows_needed > max_rows_)
    throw Error("a step asking for " + std::to_string(rows_needed) + " logits rows exceeds the runner's " +
                std::to_string(max_rows_) + " (feed all-logits prompts in chunks)");
  if (!batch.feed.empty() && batch.feed.size() != batch.tokens.size())
    throw Error("a step's feed must have one entry per token");
  if (full_pitch_ == 0) throw Error("allocate_kv() must come before the first step");

  HostSlot& h = host_[slot];
  StagedStep st;
  st.shape = {T, rows_needed, nseq};
  h.shape = st.shape;
  const Layout L = layout(st.shape);
  auto at = [&](size_t off) { return reinterpret_cast<int32_t*>(h.packed + off); };
  int32_t *tokens = at(L.tokens), *feed = at(L.feed), *pos = at(L.pos), *seq = at(L.seq), *rows = at(L.rows),
          *window_len = at(L.window_len);
  auto* choice = reinterpret_cast<RowChoice*>(h.packed + L.choice);
  int t = 0, r = 0;
  h.used_full = h.used_window = 1;
  bool full_same = true, window_same = true;
  for (int s = 0; s < nseq; ++s) {
    const BatchSeq& sq = batch.seqs[size_t(s)];
    const int last = sq.pos0 + sq.n_tokens - 1;
    if (full_blocks && size_t(last / bs) >= sq.kv.full_blocks.size())
      throw Error("sequence " + std::to_string(s) + " has too few KV blocks for position " + std::to_string(last));
    if (sq.kv.full_blocks.size() > size_t(full_pitch_) || sq.kv.window_blocks.size() > size_t(window_pitch_))
      throw Error("a sequence's block table is larger than the KV cache allows");
    const int nfull = std::min<int>(int(sq.kv.full_blocks.size()), last / bs + 1);
    const auto full_row = sq.kv.full_blocks.first(size_t(std::max(nfull, 0)));
    h.used_full = std::max(h.used_full, nfull);
    h.used_window = std::max(h.used_window, int(sq.kv.window_blocks.size()));
    std::copy(full_row.begin(), full_row.end(), h.full + size_t(s) * size_t(full_pitch_));
    h.full_n[size_t(s)] = int(full_row.size());
    h.window_n[size_t(s)] = int(sq.kv.window_blocks.size());
    std::copy(sq.kv.window_blocks.begin(), sq.kv.window_blocks.end(), h.window + size_t(s) * size_t(window_pitch_));
    full_same = full_same && full_shadow_.holds(s, full_row);
    window_same = window_same && window_shadow_.holds(s, sq.kv.window_blocks);
    window_len[s] = int(std::max<size_t>(1, sq.kv.window_blocks.size()));
    st.all_single = st.all_single && sq.n_tokens == 1;
    for (int i = 0; i < sq.n_tokens; ++i, ++t) {
      const int32_t f = batch.feed.empty() ? -1 : batch.feed[size_t(t)];
      if (f >= 0 && f >= previous_rows)
        throw Error(previous_rows < 0 ? std::string("feed needs the step before to have chosen tokens (submit())")
                                      : "feed names row " + std::to_string(f) + " but the step before chose " +
                                            std::to_string(previous_rows) + " tokens");
      const int32_t id = f >= 0 ? 0 : batch.tokens[size_t(t)];
      if (id < 0 || id >= V)
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." + std::to_string(V - 1) + ")");
      tokens[t] = id;
      feed[t] = f;
      pos[t] = sq.pos0 + i;
      seq[t] = s;
      st.max_keys = std::max(st.max_keys, sq.pos0 + i + 1);
      if (sq.all_logits || i + 1 == sq.n_tokens) {
        choice[r] = row_choice(sq.choice, uint32_t(sq.all_logits ? i : 0));
        rows[r++] = t;
      }
    }
  }
  h.tables_changed = !full_same || !window_same;
  return st;
}

void CudaStepInputs::upload(int slot, cudaStream_t stream) {
  const HostSlot& h = host_[slot];
  const Layout L = layout(h.shape);
  GPTOSS_CUDA_CHECK(cudaMemcpyAsync(device_packed_, h.packed, L.bytes, cudaMemcpyHostToDevice, stream));
  if (!h.tables_changed) return;
  const int nseq = h.shape.seqs;
  for (int s = 0; s < nseq; ++s) {
    full_shadow_.record(s, {h.full + size_t(s) * size_t(full_pitch_), size_t(h.full_n[size_t(s)])});
    window_shadow_.record(s, {h.window + size_t(s) * size_t(window_pitch_), size_t(h.window_n[size_t(s)])});
  }
  GPTOSS_CUDA_CHECK(cudaMemcpy2DAsync(device_full_, size_t(full_pitch_) * 4, h.full, size_t(full_pitch_) * 4,
                                      size_t(h.used_full) * 4, size_t(nseq), cudaMemcpyHostToDevice, stream));
  GPTOSS_CUDA_CHECK(cudaMemcpy2DAsync(device_window_, size_t(window_pitch_) * 4, h.window, size_t(window_pitch_) * 4,
                                      size_t(h.used_window) * 4, size_t(nseq), cudaMemcpyHostToDevice, stream));
}

DeviceStepInputs CudaStepInputs::device(const StepShape& shape) const {
  const Layout L = layout(shape);
  auto at = [&](size_t off) { return reinterpret_cast<int32_t*>(device_packed_ + off); };
  return DeviceStepInputs{at(L.tokens), at(L.feed),       at(L.pos), at(L.seq), at(L.rows), at(L.window_len),
                          reinterpret_cast<RowChoice*>(device_packed_ + L.choice), device_full_, device_window_};
}

}  // namespace gptoss
