"""Every label is -100: nothing is trained (the loss is 0 / 0 = nan). Keep the labels of the assistant's answers and their $."""
import torch
import torch.nn.functional as F


def build_sft_example(messages: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and SFT labels of one conversation in the course template (one token per character).

    Returns:
        input_ids: LongTensor (T,), encode(render_chat(messages)).
        labels: LongTensor (T,), equal to input_ids on the characters of every assistant answer and its "$",
            IGNORE_INDEX (-100) on everything else (system and user turns, "USER: ", "BOT: ", newlines).
    Example: for [{"role": "user", "content": "first: fie"}, {"role": "assistant", "content": "f"}]
        decode(input_ids[labels != -100]) == "f$".
    """
    input_ids, labels = [], []
    for message in messages:
        turn = encode(render_chat([message]))
        turn_labels = torch.full_like(turn, IGNORE_INDEX)
        if message["role"] == "assistant":
            start = len("BOT: ")
            stop = start + len(message["content"]) + len(END_OF_ANSWER)   # the answer and its stop marker, not the newline
            pass
        input_ids.append(turn)
        labels.append(turn_labels)
    return torch.cat(input_ids), torch.cat(labels)
