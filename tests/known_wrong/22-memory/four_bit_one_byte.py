"""A 4-bit number counted as one byte, as if each code had a byte of its own: two 4-bit codes are packed into one uint8, so int4 is 0.5 bytes per parameter (and NF4 0.5 plus its scales)."""


def bytes_per_parameter(precision):
    bits = {
        "fp32": 32.0,
        "fp16": 16.0,
        "bf16": 16.0,
        "int8": 8.0,
        "int4": 8.0,  # BUG: a 4-bit code takes half a byte
        "nf4": 8.0 + 32 / 64,
        "nf4_double_quant": 8.0 + 8 / 64 + 32 / (64 * 256),
    }
    if precision not in bits:
        raise ValueError(f"unknown precision {precision!r}")
    return bits[precision] / 8
