"""KVCache.update overwrites the layer's keys and values with the new ones instead of appending: each step attends only to the tokens of its own call, and length counts only the last call. Concatenate along the time axis, torch.cat([old, new], dim=-2)."""
import torch


class KVCache:
    def __init__(self, n_layer):
        self.keys = [None] * n_layer
        self.values = [None] * n_layer

    @property
    def length(self):
        return 0 if self.keys[0] is None else self.keys[0].shape[-2]

    def update(self, layer, k_new, v_new):
        self.keys[layer], self.values[layer] = k_new, v_new  # BUG: the old tokens are thrown away
        return self.keys[layer], self.values[layer]
