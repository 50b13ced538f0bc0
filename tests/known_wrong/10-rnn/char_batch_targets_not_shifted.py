"""Character-model targets that are not shifted: targets equal the inputs, so the model learns to copy the character it is reading (training loss near 0, held-out next-character loss high, garbage samples). The target of position t is the next character: inputs data[o:o+T], targets data[o+1:o+T+1]."""
import torch


def char_lm_batch(data, batch_size, seq_len, generator):
    offsets = torch.randint(0, len(data) - seq_len, (batch_size,), generator=generator)
    positions = offsets[:, None] + torch.arange(seq_len)
    windows = data[positions]
    return windows, windows.clone()  # BUG: the targets are the inputs themselves
