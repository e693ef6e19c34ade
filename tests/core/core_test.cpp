#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include <atomic>

#include "core/bf16.h"
#include "core/error.h"
#include "core/mem_size.h"
#include "core/mxfp4.h"
#include "core/thread_pool.h"

using namespace gptoss;

TEST(Bf16, RoundTripAndRounding) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  // 1 + 2^-8 is halfway between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
}

TEST(Mxfp4, DequantBlockByHand) {
  uint8_t block[16] = {};
  block[0] = 0x71;   // value0 = +0.5 (nibble 1), value1 = +6 (nibble 7)
  block[15] = 0xf9;  // value30 = -0.5 (nibble 9), value31 = -6 (nibble 15)
  float out[32];
  dequant_mxfp4_block(block, 128, out);  // scale 2^(128-127) = 2
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 12.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[30], -1.0f);
  EXPECT_EQ(out[31], -12.0f);
  dequant_mxfp4_block(block, 125, out);  // 2^-2
  EXPECT_EQ(out[1], 1.5f);
}

TEST(MemSize, ParseAndFormat) {
  EXPECT_EQ(parse_mem_size("12GiB"), 12ull << 30);
  EXPECT_EQ(parse_mem_size("16G"), 16ull << 30);
  EXPECT_EQ(parse_mem_size("512MiB"), 512ull << 20);
  EXPECT_EQ(parse_mem_size("1.5GB"), 1500000000ull);
  EXPECT_EQ(parse_mem_size("1024"), 1024ull);
  EXPECT_THROW(parse_mem_size("lots"), Error);
  EXPECT_THROW(parse_mem_size("12 parsecs"), Error);
  EXPECT_EQ(format_mem_size(13743895347ull), "12.8 GiB");
}

TEST(ThreadPool, CoversRangeExactlyOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(1000);
  pool.parallel_for(hits.size(), [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) hits[i]++;
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  // Nested calls run serially instead of deadlocking.
  std::atomic<int> total{0};
  pool.parallel_for(8, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) pool.parallel_for(10, [&](size_t b2, size_t e2) { total += int(e2 - b2); });
  });
  EXPECT_EQ(total.load(), 80);
}

// Back-to-back jobs (workers still spinning from the last one), jobs after
// the spin has run out (workers asleep), and two threads calling at once:
// every job runs every index exactly once and nothing hangs.
TEST(ThreadPool, BackToBackSleepingAndConcurrentCallers) {
  for (const char* spin : {"0", "1000"}) {
    setenv("GPTOSS_POOL_SPIN_US", spin, 1);
    ThreadPool pool(4);
    std::atomic<long> sum{0};
    auto job = [&](int rounds) {
      for (int r = 0; r < rounds; ++r)
        pool.parallel_for(37, [&](size_t b, size_t e) {
          for (size_t i = b; i < e; ++i) sum += long(i);
        });
    };
    job(2000);
    EXPECT_EQ(sum.load(), 2000L * 666) << "spin " << spin;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the spin: workers sleep
    job(3);
    EXPECT_EQ(sum.load(), 2003L * 666) << "spin " << spin;
    std::thread other(job, 500);
    job(500);
    other.join();
    EXPECT_EQ(sum.load(), 3003L * 666) << "spin " << spin;
  }
  unsetenv("GPTOSS_POOL_SPIN_US");
}
