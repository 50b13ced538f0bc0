"""The template does not end the assistant's turn with the stop marker $: a model trained on it never learns to stop and rambles until max_new_tokens. End every assistant turn with END_OF_ANSWER before its newline."""
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
        end = "\n"   # the assistant's turn ends with the stop marker
        parts.append(prefix[role] + content + end)
    if add_generation_prompt:
        parts.append(prefix["assistant"])
    return "".join(parts)


def parse_chat(text: str) -> list[dict]:
    """The inverse of render_chat on a complete conversation: a list of {"role", "content"} dicts.

    Raises ValueError on a line that is no turn of the template (unknown marker, an assistant line without its "$").
    Example: parse_chat("USER: upper: crown\\nBOT: CROWN$\\n") == [{"role": "user", "content": "upper: crown"},
    {"role": "assistant", "content": "CROWN"}].
    """
    if text and not text.endswith("\n"):
        raise ValueError("a complete conversation ends with a newline")
    messages = []
    for line in text.split("\n")[:-1]:
        if line.startswith("BOT: "):
            messages.append({"role": "assistant", "content": line[len("BOT: "):]})
        elif line.startswith("USER: "):
            messages.append({"role": "user", "content": line[len("USER: "):]})
        elif line.startswith("SYSTEM: "):
            messages.append({"role": "system", "content": line[len("SYSTEM: "):]})
        else:
            raise ValueError(f"not a turn of the template: {line!r}")
    return messages
