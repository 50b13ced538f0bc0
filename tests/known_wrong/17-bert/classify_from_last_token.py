"""Pooling the last position, as a decoder would: with right padding it is [PAD] or [SEP], which was never trained to summarise the sentence. Take position 0, the [CLS] token."""


def cls_pool(hidden, attention_mask):
    return hidden[:, -1]  # BUG: the last token, not [CLS]
