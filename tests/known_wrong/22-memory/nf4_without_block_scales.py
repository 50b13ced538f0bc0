"""NF4 counted as 4 bits per weight, forgetting the fp32 absmax every block of 64 weights stores: NF4 is (4 + 32/64) / 8 = 0.5625 bytes per parameter, (4 + 8/64 + 32/(64*256)) / 8 with double quantization."""


def bytes_per_parameter(precision):
    bits = {
        "fp32": 32.0,
        "fp16": 16.0,
        "bf16": 16.0,
        "int8": 8.0,
        "int4": 4.0,
        "nf4": 4.0,  # BUG: no per-block absmax
        "nf4_double_quant": 4.0,  # BUG: no quantized absmax, no second-level scales
    }
    if precision not in bits:
        raise ValueError(f"unknown precision {precision!r}")
    return bits[precision] / 8
