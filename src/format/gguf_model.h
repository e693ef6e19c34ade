#pragma once
// A llama.cpp gpt-oss GGUF (general.architecture "gpt-oss") as our ModelConfig
// and Hugging Face-named tensors, so the runners never know where weights came from.
//
// Names: token_embd/output/output_norm, blk.N.{attn_norm, post_attention_norm,
// attn_q/k/v/output (+ .bias), attn_sinks, ffn_gate_inp (router, + .bias),
// ffn_gate_exps/ffn_up_exps/ffn_down_exps (+ .bias)} or a fused ffn_gate_up_exps.
// Dense tensors: BF16 is used in place from the mapped file; F32, F16 and Q8_0
// are converted to bf16. Experts: MXFP4 blocks of 1 scale byte then 16 bytes
// with value k in the low nibble of byte k and value k+16 in its high nibble,
// gate and up as separate tensors; they are re-laid out into our
// *_blocks/*_scales (value 2j low, 2j+1 high) with gate and up rows interleaved
// again, the Hugging Face layout the runners read.
#include <string>

#include "format/gguf.h"
#include "format/model_source.h"

namespace gptoss {

ModelConfig gguf_model_config(const GgufFile& file);
ModelSource open_gguf(const std::string& path, const LoadProgress& progress = {});

// Dense ggml data of `count` values to bf16 (F32, F16, BF16, Q8_0); Error naming
// `what` for any other type.
void ggml_to_bf16(GgmlType type, const uint8_t* src, int64_t count, uint16_t* dst, const std::string& what);

// One MXFP4 block between the two nibble orders (17 bytes ggml: scale first).
void mxfp4_block_from_ggml(const uint8_t* ggml17, uint8_t* blocks16, uint8_t* scale);
void mxfp4_block_to_ggml(const uint8_t* blocks16, uint8_t scale, uint8_t* ggml17);

}  // namespace gptoss
