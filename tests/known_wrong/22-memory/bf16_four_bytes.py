"""bfloat16 taken as 4 bytes per parameter, as if the "float" in its name made it an fp32: bf16 is a 16-bit format (1 sign, 8 exponent, 7 mantissa bits), 2 bytes like fp16."""


def bytes_per_parameter(precision):
    bits = {
        "fp32": 32.0,
        "fp16": 16.0,
        "bf16": 32.0,  # BUG: bf16 has fp32's exponent range but only 16 bits
        "int8": 8.0,
        "int4": 4.0,
        "nf4": 4.0 + 32 / 64,
        "nf4_double_quant": 4.0 + 8 / 64 + 32 / (64 * 256),
    }
    if precision not in bits:
        raise ValueError(f"unknown precision {precision!r}")
    return bits[precision] / 8
