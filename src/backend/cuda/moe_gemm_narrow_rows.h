#pragma once
// Which MMA row each of a block's 128 weight rows takes in
// moe_gemm_sm90_narrow.cu, and which rows its epilogue reads back: a plain
// header, so that the tests hold the dequant and the epilogue to each other
// on the host.
#include "core/host_device.h"

namespace gptoss::cuda::narrow_rows {

// Weight row r of the block -> its row of the wgmma A tile. Gate/up rows are
// interleaved in memory (gate 2i, up 2i + 1): gate i goes to 16 (i / 8) +
// i % 8 and its up 8 rows below, where the accumulator layout hands both to
// the same thread. Down rows keep their place.
GPTOSS_HD int a_row(bool gate_up, int r) {
  if (!gate_up) return r;
  const int i = r >> 1;
  return 16 * (i >> 3) + 8 * (r & 1) + (i & 7);
}

// The A row of accumulator h (0..3, of each 8-slot group) of lane group g in
// warp w of warpgroup wg (wgmma.cuh: d[4j + h] is row 16w + g + 8 (h / 2) of
// the warpgroup's 64).
GPTOSS_HD int acc_row(int wg, int w, int g, int h) { return 64 * wg + 16 * w + g + 8 * (h >> 1); }

// gate_up: the intermediate index (within the block's 64) whose gate that
// thread's accumulators 0, 1 hold, and whose up 2, 3 hold.
GPTOSS_HD int gate_index(int wg, int w, int g) { return 32 * wg + 8 * w + g; }

}  // namespace gptoss::cuda::narrow_rows
