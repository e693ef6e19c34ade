#include "backend/cuda/timeline.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace gptoss::cuda::timeline {

namespace {

std::atomic<size_t> g_launches{0};
Record* g_slots = nullptr;  // device
unsigned* g_count = nullptr;

std::vector<void (*)(Record*, unsigned*)>& binders() {
  static std::vector<void (*)(Record*, unsigned*)> b;
  return b;
}

}  // namespace

bool enabled() {
#ifdef GPTOSS_TIMELINE
  return true;
#else
  return false;
#endif
}

void note_launch() { g_launches.fetch_add(1, std::memory_order_relaxed); }

bool add_binder(void (*bind)(Record*, unsigned*)) {
  binders().push_back(bind);
  return true;
}

void StepTimeline::begin_capture(int key, std::string label) {
  building_ = &graphs_[key];
  *building_ = Graph{};
  building_->label = std::move(label);
  launches_at_op_ = g_launches.load();
}

void StepTimeline::op(const char* name) {
  if (!building_) return;
  const size_t now = g_launches.load();
  building_->ops.insert(building_->ops.end(), now - launches_at_op_, name);
  launches_at_op_ = now;
}

void StepTimeline::end_capture() {
  if (!building_) return;
  building_->us.assign(building_->ops.size(), 0.0);
  building_->lead_us.assign(building_->ops.size(), 0.0);
  building_ = nullptr;
}

void StepTimeline::before_replay(cudaStream_t s) {
  if (!g_slots) {
    GPTOSS_CUDA_CHECK(cudaMalloc(&g_slots, kMaxRecords * sizeof(Record)));
    GPTOSS_CUDA_CHECK(cudaMalloc(&g_count, sizeof(unsigned)));
    for (auto bind : binders()) bind(g_slots, g_count);
  }
  GPTOSS_CUDA_CHECK(cudaMemsetAsync(g_count, 0, sizeof(unsigned), s));
}

void StepTimeline::after_replay(int key, cudaStream_t s) {
  auto it = graphs_.find(key);
  if (it == graphs_.end() || !g_slots) return;
  Graph& g = it->second;
  unsigned n = 0;
  GPTOSS_CUDA_CHECK(cudaMemcpyAsync(&n, g_count, sizeof n, cudaMemcpyDeviceToHost, s));
  GPTOSS_CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<Record> r(std::min(n, kMaxRecords));
  GPTOSS_CUDA_CHECK(cudaMemcpy(r.data(), g_slots, r.size() * sizeof(Record), cudaMemcpyDeviceToHost));
  // Each kernel waits for the one launched before it: release order is launch order.
  std::sort(r.begin(), r.end(), [](const Record& a, const Record& b) { return a.go < b.go; });
  if (r.size() != g.ops.size() || r.empty()) {
    ++g.mismatched;
    return;
  }
  for (size_t i = 0; i + 1 < r.size(); ++i) {
    g.us[i] += double(r[i + 1].go - r[i].go) * 1e-3;
    g.lead_us[i] += double(r[i].go - std::min(r[i].go, r[i].enter)) * 1e-3;
  }
  ++g.replays;
}

void StepTimeline::print() const {
  for (const auto& [_, g] : graphs_) {
    if (g.replays == 0) continue;
    const double n = g.replays;
    double total = 0;
    std::map<std::string, std::pair<double, int>> by_op;  // us per step, kernels
    for (size_t i = 0; i < g.ops.size(); ++i) {
      auto& [us, kernels] = by_op[g.ops[i]];
      us += g.us[i] / n;
      ++kernels;
      total += g.us[i] / n;
    }
    std::fprintf(stderr,
                 "GPTOSS_TIMELINE decode step of %s: %d replays (%d unmatched), %zu kernels, %.1f us/step to the last "
                 "kernel's release\n",
                 g.label.c_str(), g.replays, g.mismatched, g.ops.size(), total);
    std::vector<std::pair<double, std::string>> rows;
    for (const auto& [op, v] : by_op) rows.push_back({v.first, op});
    std::sort(rows.rbegin(), rows.rend());
    for (const auto& [us, op] : rows)
      std::fprintf(stderr, "  %-14s %8.1f us/step  %4d kernels  %6.2f us/kernel\n", op.c_str(), us, by_op.at(op).second,
                   us / by_op.at(op).second);
    // The kernels of the middle layer, in order: from its qkv to the next layer's.
    std::vector<size_t> layer_starts;
    for (size_t i = 0; i < g.ops.size(); ++i)
      if (std::string(g.ops[i]) == "qkv" && (i == 0 || std::string(g.ops[i - 1]) != "qkv")) layer_starts.push_back(i);
    if (layer_starts.size() < 2) continue;
    const size_t mid = layer_starts.size() / 2;
    const size_t end = mid + 1 < layer_starts.size() ? layer_starts[mid + 1] : g.ops.size();
    std::fprintf(stderr, "  layer %zu, kernel by kernel (us on the critical path / us resident before release):\n", mid);
    for (size_t i = layer_starts[mid]; i < end; ++i)
      std::fprintf(stderr, "    %-14s %6.2f / %6.2f\n", g.ops[i], g.us[i] / n, g.lead_us[i] / n);
  }
}

}  // namespace gptoss::cuda::timeline
