"""The template ignores add_generation_prompt: a prompt for the model ends after the user turn, so the model must guess who speaks next and often writes another user line. Append 'BOT: ' when add_generation_prompt is True."""
import torch
import torch.nn.functional as F


def render_chat(messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The conversation as one string in the course template.

    Args:
        messages: [{"role": "system" | "user" | "assistant", "content": str}, ...]; contents contain no "\\n" and no "$".
        add_generation_prompt: append "BOT: " so that the model's continuation is the assistant's answer.

    Returns:
        A str over the course vocabulary, e.g.
        render_chat([{"role": "user", "content": "upper: crown"}, {"role": "assistant", "content": "CROWN"}])
        == "USER: upper: crown\\nBOT: CROWN$\\n".
    """
    prefix = {"system": "SYSTEM: ", "user": "USER: ", "assistant": "BOT: "}
    parts = []
    for message in messages:
        role, content = message["role"], message["content"]
        if role not in prefix:
            raise ValueError(f"unknown role {role!r}: expected one of {ROLES}")
        if "\n" in content or END_OF_ANSWER in content:
            raise ValueError(f"a {role} message contains a newline or {END_OF_ANSWER!r}, which the template reserves")
        end = END_OF_ANSWER + "\n" if role == "assistant" else "\n"   # the assistant's turn ends with the stop marker
        parts.append(prefix[role] + content + end)
    return "".join(parts)
