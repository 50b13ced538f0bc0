# %% [markdown]
# # 26 · Instruction tuning: chat templates, the masked SFT loss, and packing
#
# A pretrained model continues text; an assistant answers. Supervised fine-tuning (SFT) turns one
# into the other by training on conversations written in a fixed *chat template*, with the loss
# taken only on the tokens the assistant is supposed to produce:
#
# $$\boxed{\;\mathcal{L}_{\text{SFT}}(\theta) \;=\; -\frac{1}{\sum_{i,t} m_{i,t}}\sum_{i}\sum_{t=1}^{T_i-1}
# m_{i,t}\,\log p_\theta\!\left(x_{i,t} \mid x_{i,<t}\right),\qquad
# m_{i,t} = \begin{cases}1 & x_{i,t}\ \text{belongs to an assistant answer or its end marker}\\
# 0 & \text{system, user and template tokens}\end{cases}\;}$$
#
# Why it matters for LLMs: every chat model (ChatGPT, Llama-Instruct, Mistral-Instruct, Qwen-Chat)
# is a base model plus this step (and usually preference tuning after it, `27`-`29`). The template
# decides what the model sees at inference, the mask decides what it learns, and packing decides
# how much of the GPU does useful work. Each of the three has a classic silent bug: a model trained
# on one template and prompted with another, a model that never learnt to stop, a packed batch whose
# examples read each other.
#
# **What you will build:** a chat template for the course model's 65-character vocabulary, its
# renderer and parser (checked against the same template run as Jinja by transformers'
# `apply_chat_template`); instruction data from rules you can read; SFT labels with the prompt
# masked out and the masked cross-entropy with its one-token shift (checked against a hand-masked
# cross-entropy and against transformers' own loss); packing several examples into one row with a
# block-diagonal causal mask and position ids that restart at 0 (checked by running each example
# alone: the logits must agree); the padding waste of packing against padding to the longest; and
# an SFT run of the course model whose held-out answers become right.

# %% [markdown]
# ## Prerequisites
#
# - `16-gpt`: the course model (transformers' `GPT2LMHeadModel`, 4 layers, 4 heads, width 128,
#   context 256, 65 characters) and the next-token loss with its shift by one.
# - `13-attention`: causal masks, masked softmax; `14-positions`: learned absolute position
#   embeddings (GPT-2's `wpe`), which is why packing must restart the positions.
# - `23-fine-tuning`: full fine-tuning, learning rates, catastrophic forgetting.
#
# Packages: `torch`, `numpy`, `matplotlib`, `transformers` (the course model, and a tokenizer
# built here from the 65 characters so that its `apply_chat_template` can be compared with yours),
# `jinja2` (the template language of Hugging Face chat templates). The course model ships with this
# notebook (`course_model.py`, its weights and configuration) with Tiny Shakespeare and its licence
# note (`DATA-LICENCE.md`). Nothing is downloaded.
#
# **Notation.** A conversation is a list of messages `{"role": ..., "content": ...}` with roles
# `system`, `user`, `assistant`. $x_{1..T}$ the tokens of one rendered conversation (here one token
# per character), $y_t$ the label of position $t$ (a token id, or $-100$ for "no loss"),
# $m_t = [y_t \neq -100]$, $V = 65$ the vocabulary size, $L$ the row length of a packed batch.

# %%
import math
import os
import random
import sys
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from course_model import config, decode, encode, load_course_model, new_model, vocabulary
except ModuleNotFoundError:   # a script run or the grader: course_model.py lies in the working directory, beside this notebook
    sys.path.insert(0, os.getcwd())
    from course_model import config, decode, encode, load_course_model, new_model, vocabulary

IGNORE_INDEX = -100            # the label that means "no loss here" (PyTorch's and transformers' default ignore_index)
TASKS = ("upper", "reverse", "twice", "first")   # the four instruction tasks of section 3
TINY = dict(n_layer=2, n_embd=32, n_head=2)   # a small random GPT2LMHeadModel for fast tests: new_model(**TINY)


def read_text(path: str) -> str:
    """The whole of a UTF-8 text file beside this notebook."""
    with open(path, encoding="utf-8") as file:
        return file.read()


TEXT = read_text("tinyshakespeare.txt")   # Tiny Shakespeare (licence: DATA-LICENCE.md)
VOCABULARY = "".join(vocabulary())
print(f"{len(VOCABULARY)} characters: {VOCABULARY!r}")
print({ch: TEXT.count(ch) for ch in "$&3:"}, "occurrences in 1.1 million characters of Shakespeare")

# %% [markdown]
# ## 1 · What SFT is, and why it works
#
# **The objective is maximum likelihood on a conditional distribution.** A base model is trained
# on $\log p_\theta(x_1,\dots,x_T) = \sum_t \log p_\theta(x_t \mid x_{<t})$ over all tokens of all
# documents. For a conversation, split the tokens into the prompt $c$ (system message, user turns,
# role markers) and the response $r$ (what the assistant says). What we want is a good *policy*
# $p_\theta(r \mid c)$, not a model of how users type. By the chain rule
#
# $$\log p_\theta(c, r) = \underbrace{\log p_\theta(c)}_{\text{model of prompts}} +
# \underbrace{\sum_{t \in r} \log p_\theta(x_t \mid x_{<t})}_{\log p_\theta(r \mid c)},$$
#
# so dropping the prompt's terms from the sum leaves exactly the conditional log-likelihood of the
# answer given its prompt. Maximising it over a data set of (prompt, answer) pairs is maximum
# likelihood for the answer distribution, i.e. minimising $\mathrm{KL}(p_{\text{data}}(r\mid c)\,\|\,
# p_\theta(r\mid c))$ averaged over prompts. The mask $m_t$ in the boxed loss is that sum's
# indicator. Keeping the prompt terms (the "loss on prompt tokens" bug) also trains the model to
# produce *user* text; with short answers and long prompts most of the gradient then goes to
# modelling questions, and a model trained that way happily continues a conversation by writing
# the user's next turn.
#
# **Why so little data is enough.** The base model already knows Shakespeare's words, spelling and
# syntax; what it does not know is the *format*: that after `USER: ...` comes `BOT: ` and a short
# answer, then a stop. Zhou et al. (2023, "LIMA: less is more for alignment") fine-tuned a 65B
# model on 1,000 curated examples and argued for the *superficial alignment hypothesis*: almost all
# knowledge comes from pretraining, SFT teaches the style and the format in which to expose it.
# Here the base model has never seen a `BOT:` line; a few hundred steps make it answer.
#
# **What it changes.** SFT is ordinary fine-tuning (`23`), so everything said there holds: it moves
# the weights towards a narrow distribution and the held-out loss on the pretraining text rises a
# little (forgetting); a large learning rate or many epochs over a small set makes the model
# memorise the answers. It does not teach the model what it may not say, or which of two answers is
# better: that is preference tuning (`27`-`29`), which starts from the SFT model.
#
# **Teacher forcing and exposure bias.** Training conditions each answer token on the *true*
# previous tokens; at inference the model conditions on its own. An early mistake in a long answer
# is out of the training distribution. For the short answers here this barely matters; for long
# chains of reasoning it is one of the reasons RL after SFT helps.

# %% [markdown]
# ## 2 · Chat templates
#
# A chat model does not see messages; it sees one string of tokens. The template is the function
# from a list of messages to that string. Real ones:
#
# - **ChatML** (OpenAI, Qwen, many fine-tunes): each turn is
#   `<|im_start|>user\nHello<|im_end|>\n`, and the *generation prompt* is `<|im_start|>assistant\n`.
#   `<|im_start|>` and `<|im_end|>` are single special tokens that never occur in ordinary text.
# - **Llama 2**: `<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s>`, the
#   system prompt folded into the first user turn, each exchange wrapped in BOS/EOS.
# - **Llama 3**: `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>`,
#   with `<|eot_id|>` ("end of turn") as the token that stops generation.
#
# Hugging Face stores the template with the tokenizer, as a Jinja program in
# `tokenizer_config.json` (`chat_template`), and `tokenizer.apply_chat_template(messages,
# add_generation_prompt=True)` runs it. That is what every inference server uses, and why the
# template is part of the model: a model fine-tuned on ChatML and served with Llama's `[INST]`
# format sees a prompt it was never trained on and answers badly, without any error.
#
# **Our template.** The course model has no special tokens: its 65 characters are those of
# Shakespeare (no `<`, no `|`, no digits but 3). So the role markers are made of ordinary characters,
# at the start of a line, in upper case, which Shakespeare uses for speaker names (`ROMEO:`),
# and the end of an answer is `$`, a character that occurs *once* in Tiny Shakespeare:
#
# | role | rendered as |
# |---|---|
# | system | `SYSTEM: {content}\n` |
# | user | `USER: {content}\n` |
# | assistant | `BOT: {content}$\n` |
# | generation prompt (`add_generation_prompt=True`) | `BOT: ` at the end |
#
# Contents may not contain a newline or `$` (they would break the parse; real templates have the
# same problem with users who type `<|im_end|>`, and tokenizers refuse to encode special tokens
# found in user text for that reason). `$` plays the role of EOS / `<|im_end|>` / `<|eot_id|>`:
# the model must learn to produce it, and generation stops there.
#
# The same template in Jinja, the way a Hugging Face tokenizer would ship it. The `{% generation %}`
# block marks the tokens the assistant produces; transformers turns it into an
# `assistant_masks` list, which is exactly the SFT mask of section 4.

# %%
CHAT_TEMPLATE_JINJA = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ 'BOT: ' }}{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}{{ '\n' }}"
    "{% elif message['role'] == 'user' %}{{ 'USER: ' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'system' %}{{ 'SYSTEM: ' + message['content'] + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'BOT: ' }}{% endif %}"
)
END_OF_ANSWER = "$"
ROLES = ("system", "user", "assistant")


def chat_tokenizer():
    """A transformers tokenizer of the course model's 65 characters (one token per character) carrying CHAT_TEMPLATE_JINJA."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab={ch: i for i, ch in enumerate(VOCABULARY)}, unk_token="?"))
    core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")   # every character is a token
    core.decoder = decoders.Fuse()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=END_OF_ANSWER)
    tokenizer.chat_template = CHAT_TEMPLATE_JINJA
    return tokenizer


TOKENIZER = chat_tokenizer()
example_chat = [{"role": "system", "content": "answer in one word."},
                {"role": "user", "content": "reverse: crown"},
                {"role": "assistant", "content": "nworc"},
                {"role": "user", "content": "upper: crown"}]
print(TOKENIZER.apply_chat_template(example_chat, tokenize=False, add_generation_prompt=True))
print("token ids of the first user line:", TOKENIZER("USER: reverse: crown\n").input_ids)

# %% [markdown]
# Write the renderer and the parser (about 10 minutes). The renderer checks its input (a role
# outside `ROLES`, or a content containing `\n` or `$`, raises `ValueError`); the parser is its
# inverse on a complete conversation (one that does not end in a generation prompt) and raises
# `ValueError` on a line that is not a turn of the template, such as an assistant line without its
# `$`.

# %% nbgrader={"grade": false, "grade_id": "chat_template", "locked": false, "schema_version": 3, "solution": true, "task": false}
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
    ### BEGIN SOLUTION
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
    if add_generation_prompt:
        parts.append(prefix["assistant"])
    return "".join(parts)
    ### END SOLUTION


def parse_chat(text: str) -> list[dict]:
    """The inverse of render_chat on a complete conversation: a list of {"role", "content"} dicts.

    Raises ValueError on a line that is no turn of the template (unknown marker, an assistant line without its "$").
    Example: parse_chat("USER: upper: crown\\nBOT: CROWN$\\n") == [{"role": "user", "content": "upper: crown"},
    {"role": "assistant", "content": "CROWN"}].
    """
    ### BEGIN SOLUTION
    if text and not text.endswith("\n"):
        raise ValueError("a complete conversation ends with a newline")
    messages = []
    for line in text.split("\n")[:-1]:
        if line.startswith("BOT: ") and line.endswith(END_OF_ANSWER):
            messages.append({"role": "assistant", "content": line[len("BOT: "):-1]})
        elif line.startswith("USER: "):
            messages.append({"role": "user", "content": line[len("USER: "):]})
        elif line.startswith("SYSTEM: "):
            messages.append({"role": "system", "content": line[len("SYSTEM: "):]})
        else:
            raise ValueError(f"not a turn of the template: {line!r}")
    return messages
    ### END SOLUTION

# %% [markdown]
# The template tests render conversations with your function and with the Jinja template above
# (through `apply_chat_template`), with and without the generation prompt, and parse them back.

# %%
from grader.testing import scenario


@scenario
def template_run(ns, messages, add_generation_prompt):
    """render_chat on a conversation, its parse when complete, and the errors raised on bad input."""
    out = {"text": ns.render_chat(messages, add_generation_prompt)}
    if not add_generation_prompt:
        out["parsed"] = ns.parse_chat(out["text"])
    return out


@scenario
def template_errors(ns, bad_messages, bad_texts):
    """Which bad conversations render_chat rejects and which bad texts parse_chat rejects with ValueError."""
    rejected_messages, rejected_texts = [], []
    for messages in bad_messages:
        try:
            ns.render_chat(messages)
            rejected_messages.append(False)
        except ValueError:
            rejected_messages.append(True)
    for text in bad_texts:
        try:
            ns.parse_chat(text)
            rejected_texts.append(False)
        except ValueError:
            rejected_texts.append(True)
    return {"messages": rejected_messages, "texts": rejected_texts}


def jinja_render(messages, add_generation_prompt=False):
    """The course template run by transformers' apply_chat_template on TOKENIZER (the judge's own renderer)."""
    return TOKENIZER.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


# %% nbgrader={"grade": true, "grade_id": "template_matches_jinja", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""render_chat gives the same string as the Jinja template run by apply_chat_template (system, user and assistant turns, several exchanges, with and without the generation prompt), every answer ends with the stop marker, and parse_chat inverts it"""
from grader.testing import expect, learner

chat = [{"role": "user", "content": "upper: crown"}, {"role": "assistant", "content": "CROWN"}]
got = template_run.learner(chat, False)
expect.true(isinstance(got["text"], str), "render_chat must return a str")
expect.equal(got["text"], "USER: upper: crown\nBOT: CROWN$\n", what="render_chat on one user turn and its answer",
             hint="USER: {content}\\n, then BOT: {content}$\\n: the assistant's turn ends with the stop marker $ and a newline")
expect.equal(got["parsed"], chat, what="parse_chat(render_chat(chat))")
### BEGIN HIDDEN TESTS
chats = [
    [{"role": "system", "content": "answer in one word."}, {"role": "user", "content": "first: tyrant"}, {"role": "assistant", "content": "t"}],
    [{"role": "user", "content": "twice: fie"}, {"role": "assistant", "content": "fie fie"}, {"role": "user", "content": "reverse: lord"},
     {"role": "assistant", "content": "drol"}, {"role": "user", "content": "upper: so"}],
    [{"role": "user", "content": "What say'st thou, Kate? Speak!"}, {"role": "assistant", "content": "Nay, I'll not; 'tis late."}],
    [{"role": "system", "content": ""}, {"role": "user", "content": "reverse: a"}],
]
for chat in chats:
    for prompt in (False, True):
        got = template_run.learner(chat, prompt)
        want = jinja_render(chat, prompt)
        expect.true(isinstance(got["text"], str), "render_chat must return a str")
        if prompt:
            expect.true(got["text"].endswith("BOT: "), "render_chat(..., add_generation_prompt=True) does not end with 'BOT: ': without the "
                        "generation prompt the model continues with a user turn (or anything), not with the assistant's answer")
        else:
            expect.true(not got["text"].endswith("BOT: "), "render_chat(..., add_generation_prompt=False) ends with 'BOT: ': add the "
                        "generation prompt only when asked (training examples end with the answer)")
        n_answers = sum(m["role"] == "assistant" for m in chat)
        expect.true(got["text"].count("$\n") == n_answers, f"a conversation with {n_answers} assistant answer(s) rendered with "
                    f"{got['text'].count('$')} stop marker(s): every assistant turn ends with $ then a newline, and no other turn does "
                    "(a model trained without the marker never learns to stop)")
        expect.equal(got["text"], want, what=f"render_chat on a {len(chat)}-message conversation (add_generation_prompt={prompt}) "
                     "compared with apply_chat_template on the Jinja template", hint="compare your string with the table of section 2, turn by turn")
        if not prompt:
            expect.equal(got["parsed"], chat, what=f"parse_chat(render_chat(...)) on a {len(chat)}-message conversation",
                         hint="split on newlines, strip the role marker and, for BOT lines, the final $")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "template_rejects_bad_input", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""render_chat raises ValueError on an unknown role and on contents that contain the newline or the stop marker; parse_chat raises ValueError on lines that are no turn of the template"""
from grader.testing import expect, learner

got = template_errors.learner([[{"role": "king", "content": "hail"}]], ["KING: hail\n"])
expect.equal(got["messages"], [True], what="whether render_chat rejects the role 'king'", hint="raise ValueError for a role outside ROLES")
expect.equal(got["texts"], [True], what="whether parse_chat rejects the line 'KING: hail'", hint="raise ValueError on a line that is no turn of the template")
### BEGIN HIDDEN TESTS
bad_messages = [[{"role": "user", "content": "two\nlines"}], [{"role": "assistant", "content": "pay 3$"}],
                [{"role": "user", "content": "fine"}, {"role": "Assistant", "content": "x"}]]
bad_texts = ["BOT: no stop marker\n", "USER: hi\nbot: x$\n", "USER: no final newline", "just text\n"]
got = template_errors.learner(bad_messages, bad_texts)
expect.equal(got["messages"], [True, True, True], what="whether render_chat rejects a newline in a content, a $ in a content, and the role 'Assistant'",
             hint="a content with a newline or $ would render to a string that parses into other messages: raise ValueError")
expect.equal(got["texts"], [True, True, True, True], what="whether parse_chat rejects an assistant line without $, a lower-case marker, "
             "a conversation without its final newline, and a line without a marker", hint="accept exactly the three kinds of line of the template")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · Instruction data from readable rules
#
# Real SFT sets are written by people (OpenAssistant, Dolly), distilled from a stronger model
# (Alpaca, UltraChat) or generated from templates over existing tasks (FLAN, Natural
# Instructions: thousands of NLP tasks each turned into "instruction + input -> output" by
# templates). This notebook does the last, at the size of the course model: four tasks over
# Shakespeare's words, each a rule you can read. The user writes `{task}: {word}` and the assistant
# answers:
#
# | task | rule | example |
# |---|---|---|
# | `upper` | the word in capitals | `upper: crown` -> `CROWN` |
# | `reverse` | the letters in reverse order | `reverse: crown` -> `nworc` |
# | `twice` | the word, a space, the word | `twice: crown` -> `crown crown` |
# | `first` | the first letter | `first: crown` -> `c` |
#
# The words are split into training and held-out words (no held-out word is ever seen in
# training), so held-out accuracy measures whether the model learnt the *rule*, not the answers.
# `upper` is a per-character mapping the base model half knows (Shakespeare's speaker names are in
# capitals); `first` needs one copy; `twice` a copy of a whole span (what induction heads do);
# `reverse` a copy in reverse order, the hardest for a small causal model.
#
# Write `instruction_example` (about 3 minutes).

# %% nbgrader={"grade": false, "grade_id": "instruction_example", "locked": false, "schema_version": 3, "solution": true, "task": false}
def instruction_example(task: str, word: str) -> list[dict]:
    """One conversation of the instruction data: the user's "{task}: {word}" and the assistant's answer by the rule of the task.

    Raises ValueError for a task outside TASKS.
    Example: instruction_example("twice", "crown") == [{"role": "user", "content": "twice: crown"},
    {"role": "assistant", "content": "crown crown"}].
    """
    ### BEGIN SOLUTION
    rules = {"upper": word.upper(), "reverse": word[::-1], "twice": word + " " + word, "first": word[:1]}
    if task not in rules:
        raise ValueError(f"unknown task {task!r}: expected one of {TASKS}")
    return [{"role": "user", "content": f"{task}: {word}"}, {"role": "assistant", "content": rules[task]}]
    ### END SOLUTION

# %% [markdown]
# The words: every lower-case word of 3 to 7 letters in Tiny Shakespeare, split once into training
# and held-out words.

# %%
def shakespeare_words(min_length: int = 3, max_length: int = 7) -> list[str]:
    """The distinct lower-case words of Tiny Shakespeare with min_length to max_length letters, sorted."""
    words = set()
    for token in TEXT.split():
        token = token.strip("!$&',-.3:;?")
        if token.isalpha() and token.islower() and min_length <= len(token) <= max_length:
            words.add(token)
    return sorted(words)


def split_words(words: list[str], held_out_share: float = 0.2, seed: int = 0) -> tuple[list[str], list[str]]:
    """A seeded split of words into (training words, held-out words), disjoint."""
    shuffled = list(words)
    random.Random(seed).shuffle(shuffled)
    n_held_out = int(round(held_out_share * len(shuffled)))
    return sorted(shuffled[n_held_out:]), sorted(shuffled[:n_held_out])


WORDS = shakespeare_words()
WORD_SPLIT = split_words(WORDS)
TRAIN_WORDS = WORD_SPLIT[0]        # the words of the training conversations
HELD_OUT_WORDS = WORD_SPLIT[1]     # never seen in training
print(f"{len(WORDS)} words: {len(TRAIN_WORDS)} for training, {len(HELD_OUT_WORDS)} held out, e.g. {HELD_OUT_WORDS[:6]}")

# %% nbgrader={"grade": true, "grade_id": "instruction_rules", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""instruction_example follows the four rules of the table (upper, reverse, twice, first) on several words, puts the request in a user turn and the answer in an assistant turn, and rejects unknown tasks"""
from grader.testing import expect, learner

expect.equal(learner.instruction_example("twice", "crown"), [{"role": "user", "content": "twice: crown"}, {"role": "assistant", "content": "crown crown"}],
             what="instruction_example('twice', 'crown')")
### BEGIN HIDDEN TESTS
oracle = {"upper": str.upper, "reverse": lambda w: w[::-1], "twice": lambda w: f"{w} {w}", "first": lambda w: w[0]}
for word in ("tyrant", "fie", "nay", "abcdefg"):
    for task, rule in oracle.items():
        got = learner.instruction_example(task, word)
        expect.true(isinstance(got, list) and len(got) == 2, f"instruction_example({task!r}, {word!r}) should be a list of two messages (user, assistant)")
        expect.equal(got[0], {"role": "user", "content": f"{task}: {word}"}, what=f"the user turn of instruction_example({task!r}, {word!r})")
        expect.equal(got[1], {"role": "assistant", "content": rule(word)}, what=f"the assistant turn of instruction_example({task!r}, {word!r})",
                     hint="follow the rule of the table for this task")
expect.raises("ValueError", learner.instruction_example, "shout", "fie")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Labels with the prompt masked out, and the shift by one
#
# ### 4.1 Which positions are trained
#
# Render the conversation, encode it to ids $x_1..x_T$, and build labels $y_1..y_T$ **aligned with
# the inputs**: $y_t = x_t$ where $x_t$ is a character of an assistant answer or the `$` that ends
# it, $y_t = -100$ everywhere else (system and user turns, the markers `USER: `, `BOT: `, the
# newlines). For `USER: first: fie\nBOT: f$\n`:
#
# ```
# text    U  S  E  R  :  ␣  f  i  r  s  t  :  ␣  f  i  e  ⏎  B  O  T  :  ␣  f  $  ⏎
# label   -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  -  f  $  -
# ```
#
# The answer's characters *and* the `$` are trained: the `$` is what teaches the model to stop. The
# newline after `$` is template (like the `\n` after ChatML's `<|im_end|>`, which is not trained
# either); the `BOT: ` marker is not trained because at inference the template writes it, not the
# model. This is Hugging Face's convention (`labels` the same shape as `input_ids`, `-100` ignored)
# and what TRL's `SFTTrainer` computes with `assistant_only_loss=True` from the `{% generation %}`
# mask of section 2.
#
# ### 4.2 The shift
#
# Position $t$'s logits predict token $t+1$. With labels aligned to inputs, the loss pairs
# `logits[:, t]` with `labels[:, t + 1]`:
#
# $$\mathcal{L} = -\frac{\sum_{t=1}^{T-1} m_{t+1}\log \operatorname{softmax}(z_t)_{y_{t+1}}}{\sum_{t=1}^{T-1} m_{t+1}},
# \qquad z_t = \text{logits at position } t,\quad m_{t} = [y_t \neq -100].$$
#
# So the first label that counts, the first answer character, is predicted from the logits at the
# space of `BOT: `, which has seen the whole prompt. transformers does this shift *inside*
# `GPT2LMHeadModel(..., labels=labels)`; doing it a second time outside (labels already shifted and
# then passed to the model), or not at all in a hand-written loss, is the classic off-by-one: the
# model is then trained to predict the *current* token (a copy task it solves trivially: the loss
# falls to almost zero and nothing useful is learnt) or the token two ahead.
#
# Write `build_sft_example` and `masked_lm_loss` (about 10 minutes). Use your `render_chat` piece
# by piece (render the conversation one message at a time and concatenate: the template renders
# each turn independently) to know which characters belong to which turn.

# %% nbgrader={"grade": false, "grade_id": "sft_labels", "locked": false, "schema_version": 3, "solution": true, "task": false}
def build_sft_example(messages: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and SFT labels of one conversation in the course template (one token per character).

    Returns:
        input_ids: LongTensor (T,), encode(render_chat(messages)).
        labels: LongTensor (T,), equal to input_ids on the characters of every assistant answer and its "$",
            IGNORE_INDEX (-100) on everything else (system and user turns, "USER: ", "BOT: ", newlines).
    Example: for [{"role": "user", "content": "first: fie"}, {"role": "assistant", "content": "f"}]
        decode(input_ids[labels != -100]) == "f$".
    """
    ### BEGIN SOLUTION
    input_ids, labels = [], []
    for message in messages:
        turn = encode(render_chat([message]))
        turn_labels = torch.full_like(turn, IGNORE_INDEX)
        if message["role"] == "assistant":
            start = len("BOT: ")
            stop = start + len(message["content"]) + len(END_OF_ANSWER)   # the answer and its stop marker, not the newline
            turn_labels[start:stop] = turn[start:stop]
        input_ids.append(turn)
        labels.append(turn_labels)
    return torch.cat(input_ids), torch.cat(labels)
    ### END SOLUTION


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean next-token cross-entropy over the positions whose label is not IGNORE_INDEX.

    Args:
        logits: float tensor (B, T, V), the model's output for inputs (B, T).
        labels: LongTensor (B, T) aligned with the inputs (the label of position t is the token at t, or -100).
    Returns:
        A scalar tensor: logits[:, t] scored against labels[:, t + 1], averaged over all unmasked targets of the batch
        (per-token mean, as transformers does). Equal to model(input_ids, labels=labels).loss.
    """
    ### BEGIN SOLUTION
    shifted_logits = logits[:, :-1, :]            # position t predicts token t + 1
    shifted_labels = labels[:, 1:]
    return F.cross_entropy(shifted_logits.reshape(-1, shifted_logits.shape[-1]), shifted_labels.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="mean")
    ### END SOLUTION

# %% [markdown]
# A look at one example, and the mask that transformers' `apply_chat_template` derives from the
# `{% generation %}` block of the Jinja template (it should select the same characters).

# %%
demo_ids, demo_labels = build_sft_example(instruction_example("reverse", "crown"))
print(repr(decode(demo_ids)))
print("trained characters:", repr(decode(demo_ids[demo_labels != IGNORE_INDEX])))
hf = TOKENIZER.apply_chat_template(instruction_example("reverse", "crown"), return_dict=True, return_assistant_tokens_mask=True)
print("transformers' assistant mask selects:", repr(decode([t for t, m in zip(hf["input_ids"], hf["assistant_masks"]) if m])))

# %%
@scenario
def sft_labels_run(ns, messages):
    """build_sft_example on one conversation: input ids and labels."""
    input_ids, labels = ns.build_sft_example(messages)
    return {"input_ids": input_ids, "labels": labels}


@scenario
def masked_loss_run(ns, logits, labels):
    """masked_lm_loss on given logits and labels."""
    return ns.masked_lm_loss(logits, labels)


@scenario
def model_loss_run(ns, seed, conversations):
    """masked_lm_loss of a small random GPT2LMHeadModel on padded SFT examples, with transformers' loss on the same labels."""
    import torch
    torch.manual_seed(seed)
    model = ns.new_model(torch.float64, **ns.TINY)
    examples = [ns.build_sft_example(c) for c in conversations]
    longest = max(len(ids) for ids, _ in examples)
    input_ids = torch.zeros(len(examples), longest, dtype=torch.long)
    labels = torch.full((len(examples), longest), -100, dtype=torch.long)
    for row, (ids, lab) in enumerate(examples):
        input_ids[row, :len(ids)], labels[row, :len(lab)] = ids, lab
    logits = model(input_ids).logits
    return {"logits": logits.detach(), "labels": labels, "learner": ns.masked_lm_loss(logits, labels).detach(),
            "transformers": model(input_ids, labels=labels).loss.detach()}


def template_mask(messages):
    """The judge's own SFT mask: apply_chat_template's assistant_masks from the {% generation %} block of the Jinja template."""
    out = TOKENIZER.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    return torch.tensor(out["input_ids"]), torch.tensor(out["assistant_masks"], dtype=torch.bool)


def cross_entropy_by_hand(logits, labels):
    """The judge's masked loss: a Python loop over positions, log-softmax by hand, float64."""
    total, count = 0.0, 0
    z = logits.double()
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            target = int(labels[b, t + 1])
            if target != -100:
                row = z[b, t]
                total += float(torch.logsumexp(row, 0) - row[target])
                count += 1
    return total / count


# %% nbgrader={"grade": true, "grade_id": "sft_labels_mask_the_prompt", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""build_sft_example's input ids are the encoded template, and its labels keep exactly the assistant answers and their stop markers (the positions of apply_chat_template's assistant mask), with -100 on system, user and template tokens"""
from grader.testing import expect, learner

chat = [{"role": "user", "content": "first: fie"}, {"role": "assistant", "content": "f"}]
got = sft_labels_run.learner(chat)
n = len("USER: first: fie\nBOT: f$\n")
expect.shape(got["input_ids"], (n,), what="input_ids of build_sft_example for 'USER: first: fie / BOT: f'")
expect.shape(got["labels"], (n,), what="labels of build_sft_example for 'USER: first: fie / BOT: f'", hint="labels are aligned with input_ids")
expect.dtype(got["labels"], torch.long, what="the labels")
### BEGIN HIDDEN TESTS
chats = [chat, [{"role": "user", "content": "twice: crown"}, {"role": "assistant", "content": "crown crown"}],
         [{"role": "system", "content": "be brief."}, {"role": "user", "content": "reverse: lord"}, {"role": "assistant", "content": "drol"},
          {"role": "user", "content": "upper: lord"}, {"role": "assistant", "content": "LORD"}],
         [{"role": "user", "content": "say nothing"}, {"role": "assistant", "content": ""}]]
for chat in chats:
    got = sft_labels_run.learner(chat)
    want_ids, want_mask = template_mask(chat)
    T = len(want_ids)
    what = f"for a {len(chat)}-message conversation"
    expect.shape(got["input_ids"], (T,), what=f"input_ids {what}")
    expect.shape(got["labels"], (T,), what=f"labels {what}")
    expect.dtype(got["labels"], torch.long, what=f"labels {what}")
    expect.equal(got["input_ids"].tolist(), want_ids.tolist(), what=f"input_ids {what}", hint="input_ids = encode(render_chat(messages))")
    kept = got["labels"] != -100
    n_kept, n_want = int(kept.sum()), int(want_mask.sum())
    expect.true(bool((got["labels"][kept] == got["input_ids"][kept]).all()),
                f"some labels {what} are neither -100 nor the input token at their position: labels are aligned with input_ids "
                "(label t is token t), the model shifts them itself")
    expect.true(n_kept > 0 or n_want == 0, f"every label {what} is -100: nothing would be trained; keep the assistant's answer and its $")
    expect.true(n_kept < T, f"no label {what} is -100: that is the loss on prompt tokens; mask system, user and template tokens with -100")
    expect.true(not bool((kept & ~want_mask)[:int(want_mask.nonzero()[0]) if n_want else T].any()),
                f"labels {what} keep tokens of the prompt before the first answer (the user turn or 'BOT: '): mask everything the model "
                "is given rather than asked to produce")
    dollar = got["input_ids"] == int(encode("$")[0])
    expect.true(bool(kept[dollar].all()), f"the stop marker $ is masked out {what}: train it, or the model never learns to stop")
    newline = got["input_ids"] == int(encode("\n")[0])
    expect.true(not bool(kept[newline].any()), f"a newline is trained {what}: the mask is shifted by one (the newline after $ is template), "
                "or it covers whole turns; keep exactly the answer characters and the $")
    expect.equal(kept.tolist(), want_mask.tolist(), what=f"which positions keep their label {what}",
                 hint="exactly the characters of each assistant content and its $, nothing of 'BOT: ' or of the newline")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "masked_loss_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""masked_lm_loss shifts by one, ignores -100, averages over the unmasked targets of the whole batch, and equals a hand-masked cross-entropy and transformers' own loss with labels"""
from grader.testing import expect, learner

logits = torch.zeros(1, 3, 4, dtype=torch.float64)
labels = torch.tensor([[-100, 2, 1]])
got = masked_loss_run.learner(logits, labels)
expect.shape(got, (), what="masked_lm_loss on logits (1, 3, 4)", hint="a scalar tensor")
expect.close(got, math.log(4), atol=1e-12, what="masked_lm_loss with uniform logits over 4 tokens", hint="every target costs log 4")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(3)
logits = torch.randn(2, 6, 5, generator=gen, dtype=torch.float64) * 3
labels = torch.tensor([[-100, -100, 3, 1, -100, 4], [-100, 0, -100, -100, 2, -100]])
got = masked_loss_run.learner(logits, labels)
expect.shape(got, (), what="masked_lm_loss on logits (2, 6, 5)")
want = cross_entropy_by_hand(logits, labels)
unshifted = float(F.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1), ignore_index=-100))
expect.true(abs(float(got) - unshifted) > 1e-9 or abs(float(got) - want) < 1e-9,
            "masked_lm_loss scores logits[:, t] against labels[:, t]: shift by one, logits[:, :-1] against labels[:, 1:] (position t predicts token t + 1)")
per_example = float(np.mean([cross_entropy_by_hand(logits[i:i + 1], labels[i:i + 1]) for i in range(2)]))
expect.true(abs(float(got) - per_example) > 1e-9 or abs(float(got) - want) < 1e-9,
            "masked_lm_loss averages per example then over the batch: average over all unmasked targets of the batch (per token), as transformers does")
expect.close(got, want, atol=1e-10, rtol=1e-10, what="masked_lm_loss compared with a hand-masked cross-entropy",
             hint="F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)")
big = torch.zeros(1, 3, 5, dtype=torch.float64)
big[0, :, 0] = 1e4
got = masked_loss_run.learner(big, torch.tensor([[0, 0, 1]]))
expect.shape(got, (), what="masked_lm_loss on logits of size 1e4")
expect.close(got, 5e3, rtol=1e-9, what="masked_lm_loss with logits of 1e4 (a stable log-softmax)", hint="use F.cross_entropy or log_softmax, not log(softmax(...))")
for seed in (0, 1):
    got = model_loss_run.learner(seed, [[{"role": "user", "content": "reverse: lord"}, {"role": "assistant", "content": "drol"}],
                                        [{"role": "user", "content": "twice: fie"}, {"role": "assistant", "content": "fie fie"}],
                                        [{"role": "user", "content": "first: a"}, {"role": "assistant", "content": "a"}]])
    expect.shape(got["learner"], (), what="masked_lm_loss of a small GPT2LMHeadModel on three padded examples")
    expect.close(got["learner"], cross_entropy_by_hand(got["logits"], got["labels"]), atol=1e-10, rtol=1e-10,
                 what="masked_lm_loss of a GPT2LMHeadModel compared with a hand-masked cross-entropy")
    expect.close(got["learner"], got["transformers"], atol=1e-6, rtol=1e-6, what="masked_lm_loss compared with model(input_ids, labels=labels).loss (which computes in float32)",
                 hint="transformers shifts the labels itself and averages over all non -100 targets")
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · Packing
#
# ### 5.1 Why pack
#
# SFT examples have very different lengths (here 15 to 40 characters; in real data sets from ten
# tokens to thousands). Padding a batch to its longest example wastes every padded position: the
# model computes on them and the loss throws them away. *Packing* concatenates several examples into
# one row of length $L$ and fills the row up, so almost every position is real.
#
# ### 5.2 Cross-contamination, and how to prevent it
#
# Naive packing (concatenate, one causal mask over the whole row) lets the tokens of the second
# example attend to the first. For pretraining on documents this is usually accepted (the
# documents are unrelated and an end-of-text token separates them). For SFT it is a bug: the answer
# to `reverse: lord` is then predicted while seeing an unrelated earlier conversation, and the
# model learns to depend on context that will not be there at inference. Two things must be
# reset at each example boundary:
#
# 1. **Attention.** Position $t$ of example $e$ may attend only to positions $s \le t$ of the
#    *same* example: the mask is block-diagonal, one causal triangle per example,
#    $$M_{ts} = [\,s \le t\,]\,[\,\text{seg}(s) = \text{seg}(t)\,].$$
# 2. **Positions.** GPT-2 adds a learned position embedding `wpe[p]` to each token. An example
#    that starts at column 40 of the row would get positions 40, 41, ... instead of the 0, 1, ...
#    it has when run alone (and at inference). The position ids restart at 0 for every example.
#    (For RoPE models (`14`, `18`) the relative positions inside an example are unchanged by an
#    offset, so only the attention mask matters there; for absolute positions both do.)
#
# With both, a packed row computes *exactly* what each example computes alone: same inputs to
# every attention, same positions. That is the test of this section.
#
# **What transformers 5.23 accepts.** `GPT2LMHeadModel(input_ids, attention_mask=..., position_ids=...)`
# takes `position_ids` of shape `(B, L)` and, as `attention_mask`, either the usual 2-D padding mask
# `(B, L)` or a **4-D mask `(B, 1, L, L)`** that is used as given: a boolean mask (True = may
# attend) or an additive float mask (0 or the dtype's minimum). With a 4-D mask the model does not
# add its own causal mask, so yours must be causal too. (Flash-attention kernels instead take
# `cu_seqlens`, the cumulative lengths of the examples, and transformers' data collator
# `DataCollatorWithFlattening` produces position ids restarting at 0 from which they are derived;
# the 4-D mask is the portable version that works with every attention implementation, at
# $O(L^2)$ memory per row.)
#
# Padding at the end of a row (when the next example does not fit) gets label $-100$, position 0
# and segment id $-1$; the mask lets padding attend to earlier padding of the row only, so every
# row of the mask has at least one True (a query with no key would give NaNs in the softmax).
#
# Write `pack_examples` and `packed_attention_mask` (about 15 minutes). Pack greedily, in order
# ("next fit"): put each example in the current row if it fits, else start a new row.

# %% nbgrader={"grade": false, "grade_id": "packing", "locked": false, "schema_version": 3, "solution": true, "task": false}
PAD_ID = 0   # the newline; padded positions also get label -100, position 0 and segment -1


def pack_examples(examples: list[tuple[torch.Tensor, torch.Tensor]], max_len: int) -> dict:
    """Pack (input_ids, labels) examples, in order, into rows of max_len tokens ("next fit").

    Args:
        examples: [(input_ids LongTensor (T_i,), labels LongTensor (T_i,)), ...] with every T_i <= max_len
            (a longer example raises ValueError).
        max_len: L, the row length.
    Returns:
        {"input_ids": LongTensor (R, L), padded with PAD_ID,
         "labels": LongTensor (R, L), -100 on padding,
         "position_ids": LongTensor (R, L), 0, 1, ..., T_i - 1 for each example, 0 on padding,
         "segment_ids": LongTensor (R, L), 0, 1, 2, ... numbering the examples of each row from 0, -1 on padding}.
    Example: two examples of lengths 3 and 2 with max_len=4 give two rows; position_ids [[0, 1, 2, 0], [0, 1, 0, 0]],
        segment_ids [[0, 0, 0, -1], [0, 0, -1, -1]].
    """
    ### BEGIN SOLUTION
    rows, current, used = [], [], 0
    for input_ids, labels in examples:
        if len(input_ids) > max_len:
            raise ValueError(f"an example of {len(input_ids)} tokens does not fit in rows of {max_len}")
        if used + len(input_ids) > max_len:            # next fit: the example does not fit, close the row
            rows.append(current)
            current, used = [], 0
        current.append((input_ids, labels))
        used += len(input_ids)
    if current:
        rows.append(current)
    shape = (len(rows), max_len)
    out = {"input_ids": torch.full(shape, PAD_ID, dtype=torch.long), "labels": torch.full(shape, IGNORE_INDEX, dtype=torch.long),
           "position_ids": torch.zeros(shape, dtype=torch.long), "segment_ids": torch.full(shape, -1, dtype=torch.long)}
    for r, row in enumerate(rows):
        start = 0
        for segment, (input_ids, labels) in enumerate(row):
            stop = start + len(input_ids)
            out["input_ids"][r, start:stop] = input_ids
            out["labels"][r, start:stop] = labels
            out["position_ids"][r, start:stop] = torch.arange(len(input_ids))   # positions restart for every example
            out["segment_ids"][r, start:stop] = segment
            start = stop
    return out
    ### END SOLUTION


def packed_attention_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """The block-diagonal causal mask of packed rows: mask[r, 0, t, s] = (s <= t) and segment_ids[r, s] == segment_ids[r, t].

    Args:
        segment_ids: LongTensor (R, L) from pack_examples (padding is segment -1).
    Returns:
        BoolTensor (R, 1, L, L), True where query t may attend to key s; GPT2LMHeadModel takes it as attention_mask.
    """
    ### BEGIN SOLUTION
    length = segment_ids.shape[1]
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=segment_ids.device))
    same_example = segment_ids[:, :, None] == segment_ids[:, None, :]        # (R, L_query, L_key)
    return (same_example & causal)[:, None, :, :]
    ### END SOLUTION

# %% [markdown]
# The mask of one packed row of five examples: one causal triangle per example, and the padding at
# the end as its own triangle.

# %%
demo_examples = [build_sft_example(instruction_example(task, word)) for task, word in
                 [("first", "fie"), ("upper", "lord"), ("twice", "nay"), ("reverse", "crown"), ("first", "so")]]
demo_pack = pack_examples(demo_examples, 128)
fig, axes = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1, 1.2]})
axes[0].imshow(packed_attention_mask(demo_pack["segment_ids"])[0, 0].numpy(), cmap="Blues", interpolation="nearest")
axes[0].set(title="packed_attention_mask of row 0 (blue: may attend)", xlabel="key position s", ylabel="query position t")
axes[1].plot(demo_pack["position_ids"][0].numpy(), label="position_ids")
axes[1].plot(demo_pack["segment_ids"][0].numpy(), label="segment_ids")
axes[1].plot((demo_pack["labels"][0] != IGNORE_INDEX).numpy() * 1.0 - 3, label="trained (label not -100), shifted down by 3")
axes[1].set(xlabel="column of the packed row", title="what restarts at each example"); axes[1].legend()
plt.tight_layout(); plt.show()

# %%
@scenario
def pack_run(ns, specs, max_len):
    """pack_examples on SFT examples built from (task, word) pairs, and its attention mask."""
    examples = [ns.build_sft_example(ns.instruction_example(task, word)) for task, word in specs]
    packed = ns.pack_examples(examples, max_len)
    packed["mask"] = ns.packed_attention_mask(packed["segment_ids"])
    packed["examples"] = examples
    return packed


@scenario
def pack_raw_run(ns, examples, max_len):
    """pack_examples and packed_attention_mask on given (input_ids, labels) pairs."""
    packed = ns.pack_examples(examples, max_len)
    packed["mask"] = ns.packed_attention_mask(packed["segment_ids"])
    return packed


@scenario
def packed_logits_run(ns, specs, max_len):
    """The course model in float64 on packed rows (the learner's mask and positions) and on each example alone."""
    import torch
    model = ns.load_course_model(torch.float64)
    examples = [ns.build_sft_example(ns.instruction_example(task, word)) for task, word in specs]
    packed = ns.pack_examples(examples, max_len)
    mask = ns.packed_attention_mask(packed["segment_ids"])
    with torch.no_grad():
        logits = model(packed["input_ids"], attention_mask=mask, position_ids=packed["position_ids"]).logits
        alone = [model(ids[None]).logits[0] for ids, _ in examples]
    return {"logits": logits, "alone": alone, "segment_ids": packed["segment_ids"], "input_ids": packed["input_ids"],
            "lengths": [len(ids) for ids, _ in examples]}


def next_fit_rows(lengths, max_len):
    """The judge's own next-fit packing: a list of rows, each the list of example indices it holds."""
    rows, used = [[]], 0
    for i, n in enumerate(lengths):
        if used + n > max_len and rows[-1]:
            rows.append([])
            used = 0
        rows[-1].append(i)
        used += n
    return rows


# %% nbgrader={"grade": true, "grade_id": "packing_layout", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""pack_examples packs in order by next fit, copies each example's ids and labels, restarts positions at 0, numbers the segments, pads with -100 labels and segment -1, rejects an example longer than a row; packed_attention_mask is block-diagonal and causal"""
from grader.testing import expect, learner

a = (torch.tensor([5, 6, 7]), torch.tensor([-100, 6, 7]))
b = (torch.tensor([8, 9]), torch.tensor([-100, 9]))
got = pack_raw_run.learner([a, b], 4)
expect.shape(got["input_ids"], (2, 4), what="input_ids of two examples (lengths 3, 2) packed into rows of 4", hint="the second does not fit after the first")
expect.shape(got["position_ids"], (2, 4), what="position_ids of the same packing")
expect.shape(got["mask"], (2, 1, 4, 4), what="packed_attention_mask of the same packing", hint="(R, 1, L, L)")
expect.equal(got["position_ids"].tolist(), [[0, 1, 2, 0], [0, 1, 0, 0]], what="position_ids of the docstring's example")
### BEGIN HIDDEN TESTS
specs = [("first", "fie"), ("upper", "lord"), ("twice", "nay"), ("reverse", "crown"), ("first", "so"), ("twice", "tyrant"),
         ("upper", "a"), ("reverse", "kingdom")]
for max_len in (40, 64, 100):
    got = pack_run.learner(specs, max_len)
    lengths = [len(ids) for ids, _ in got["examples"]]
    rows = next_fit_rows(lengths, max_len)
    R = len(rows)
    for key in ("input_ids", "labels", "position_ids", "segment_ids"):
        expect.shape(got[key], (R, max_len), what=f"{key} of 8 examples packed into rows of {max_len}",
                     hint="next fit, in order: start a new row only when the next example does not fit in the current one")
        expect.dtype(got[key], torch.long, what=f"{key} of pack_examples")
    expect.shape(got["mask"], (R, 1, max_len, max_len), what=f"packed_attention_mask for rows of {max_len}")
    expect.dtype(got["mask"], torch.bool, what="packed_attention_mask")
    for r, members in enumerate(rows):
        start = 0
        for segment, i in enumerate(members):
            ids, labels = got["examples"][i]
            stop = start + len(ids)
            expect.equal(got["input_ids"][r, start:stop].tolist(), ids.tolist(), what=f"the input ids of example {i} in row {r} (rows of {max_len})")
            expect.equal(got["labels"][r, start:stop].tolist(), labels.tolist(), what=f"the labels of example {i} in row {r}",
                         hint="copy each example's labels with its ids: the -100 of its prompt included")
            positions = got["position_ids"][r, start:stop].tolist()
            expect.true(positions == list(range(len(ids))) or positions[0] == 0,
                        f"the position ids of example {i} in row {r} start at {positions[0]}: restart them at 0 for every example, "
                        "as when the example runs alone (GPT-2's learned position embeddings depend on them)")
            expect.equal(positions, list(range(len(ids))), what=f"the position ids of example {i} in row {r}")
            expect.equal(set(got["segment_ids"][r, start:stop].tolist()), {segment}, what=f"the segment ids of example {i} in row {r}",
                         hint="number the examples of each row 0, 1, 2, ...")
            start = stop
        expect.equal(set(got["labels"][r, start:].tolist()) | {-100}, {-100}, what=f"the labels of the padding of row {r}", hint="padding gets label -100")
        expect.equal(set(got["segment_ids"][r, start:].tolist()) | {-1}, {-1}, what=f"the segment ids of the padding of row {r}")
    seg = got["segment_ids"]
    want_mask = (seg[:, :, None] == seg[:, None, :]) & torch.tril(torch.ones(max_len, max_len, dtype=torch.bool))
    crossing = got["mask"][:, 0] & (seg[:, :, None] != seg[:, None, :])
    expect.true(not bool(crossing.any()), f"packed_attention_mask lets tokens attend to other examples of the row (rows of {max_len}): "
                "cross-contamination; keep only keys of the same segment")
    future = got["mask"][:, 0] & ~torch.tril(torch.ones(max_len, max_len, dtype=torch.bool))
    expect.true(not bool(future.any()), "packed_attention_mask lets a token attend to later positions: a 4-D mask replaces the causal mask, include it")
    expect.equal(got["mask"][:, 0].tolist(), want_mask.tolist(), what=f"packed_attention_mask for rows of {max_len}",
                 hint="mask[r, 0, t, s] = (s <= t) and segment_ids[r, s] == segment_ids[r, t]")
expect.raises("ValueError", learner.pack_examples, [(torch.arange(9), torch.arange(9))], 8)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "packed_logits_equal_alone", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the course model's logits on packed rows (your mask and position ids) equal, within 1e-5, its logits on each example run alone: no attention across examples, positions restarted"""
from grader.testing import expect, learner

got = packed_logits_run.learner([("first", "fie"), ("upper", "lord")], 64)
expect.shape(got["logits"], (1, 64, 65), what="the course model's logits on two examples packed into one row of 64")
n0, n1 = got["lengths"]
expect.shape(got["alone"][1], (n1, 65), what="the logits of the second example alone")
expect.close(got["logits"][0, n0:n0 + n1], got["alone"][1], atol=1e-5, what="the packed logits of the second example against the example alone",
             hint="attend only within the example (block-diagonal causal mask) and restart its positions at 0")
### BEGIN HIDDEN TESTS
specs = [("twice", "tyrant"), ("reverse", "crown"), ("first", "so"), ("upper", "kingdom"), ("twice", "nay"), ("reverse", "lord")]
got = packed_logits_run.learner(specs, 80)
lengths = got["lengths"]
rows = next_fit_rows(lengths, 80)
expect.shape(got["logits"], (len(rows), 80, 65), what="the course model's logits on six examples packed into rows of 80")
for r, members in enumerate(rows):
    start = 0
    for i in members:
        n = lengths[i]
        expect.shape(got["alone"][i], (n, 65), what=f"the logits of example {i} alone")
        packed = got["logits"][r, start:start + n]
        error = float((packed - got["alone"][i]).abs().max())
        if start > 0:
            expect.true(error < 1e-5, f"example {i}, which starts at column {start} of row {r}, gets different logits packed than alone "
                        f"(largest difference {error:.2g}): either it attends to the examples before it in the row (cross-contamination: "
                        "mask keys of other segments) or its position ids do not restart at 0")
        expect.close(packed, got["alone"][i], atol=1e-5, what=f"the packed logits of example {i} against the example run alone")
        start += n
### END HIDDEN TESTS

# %% [markdown]
# ### 5.3 How much packing saves
#
# With $n$ examples of lengths $T_1..T_n$, padding each batch of $B$ examples to its longest costs
# $B \max_i T_i$ positions per batch for $\sum_i T_i$ real ones; packing into rows of $L$ costs $RL$
# for $R$ rows. The *padding waste* is the share of computed positions that are padding:
#
# $$\text{waste} = 1 - \frac{\sum_i T_i}{\text{positions computed}}.$$
#
# Write `padding_waste` (about 5 minutes): the waste of padding all examples to the longest of
# them (one batch), and of next-fit packing into rows of `max_len`, as in `pack_examples`.

# %% nbgrader={"grade": false, "grade_id": "padding_waste", "locked": false, "schema_version": 3, "solution": true, "task": false}
def padding_waste(lengths: list[int], max_len: int) -> tuple[float, float]:
    """(waste when every example is padded to the longest, waste when packed by next fit into rows of max_len), each in [0, 1).

    Example: padding_waste([3, 2], 4) == (1 - 5 / 6, 1 - 5 / 8): padded, 2 rows of 3; packed, 2 rows of 4.
    """
    ### BEGIN SOLUTION
    real = sum(lengths)
    padded = 1.0 - real / (len(lengths) * max(lengths))
    rows, used = 1, 0
    for n in lengths:
        if used + n > max_len:
            rows, used = rows + 1, 0
        used += n
    packed = 1.0 - real / (rows * max_len)
    return padded, packed
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "padding_waste_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""padding_waste returns the share of padded positions when padding to the longest and when packing by next fit, on hand cases and on the lengths of the instruction data"""
from grader.testing import expect, learner

got = learner.padding_waste([3, 2], 4)
expect.true(isinstance(got, tuple) and len(got) == 2, "padding_waste returns a tuple (padded waste, packed waste)")
expect.close(got[0], 1 - 5 / 6, atol=1e-12, what="the padded waste of lengths [3, 2]")
expect.close(got[1], 1 - 5 / 8, atol=1e-12, what="the packed waste of lengths [3, 2] in rows of 4")
### BEGIN HIDDEN TESTS
rng = random.Random(5)
cases = [([4, 4, 4, 4], 8), ([1, 7, 1, 7, 2], 8), ([30] + [3] * 20, 32), ([rng.randint(10, 60) for _ in range(200)], 128), ([5], 5)]
for lengths, max_len in cases:
    got = learner.padding_waste(lengths, max_len)
    expect.true(isinstance(got, tuple) and len(got) == 2, "padding_waste returns a tuple (padded waste, packed waste)")
    real = sum(lengths)
    want_padded = 1 - real / (len(lengths) * max(lengths))
    want_packed = 1 - real / (len(next_fit_rows(lengths, max_len)) * max_len)
    expect.close(got[0], want_padded, atol=1e-12, what=f"the padded waste of {len(lengths)} examples",
                 hint="1 - sum(lengths) / (number of examples * longest length)")
    expect.close(got[1], want_packed, atol=1e-12, what=f"the packed waste of {len(lengths)} examples in rows of {max_len}",
                 hint="count the rows next fit uses (a new row when the next example does not fit), then 1 - sum(lengths) / (rows * max_len)")
### END HIDDEN TESTS

# %%
data_lengths = [len(build_sft_example(instruction_example(t, w))[0]) for w in TRAIN_WORDS[:500] for t in TASKS]
random.Random(0).shuffle(data_lengths)
row_lengths = [32, 48, 64, 96, 128, 192, 256]
wastes = [padding_waste(data_lengths, L) for L in row_lengths]
batch_wastes = [padding_waste(data_lengths[i:i + 16], 128)[0] for i in range(0, len(data_lengths), 16)]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].hist(data_lengths, bins=range(min(data_lengths), max(data_lengths) + 2))
axes[0].set(xlabel="characters per example", ylabel="examples", title="lengths of the instruction data")
axes[1].plot(row_lengths, [w[1] for w in wastes], "o-", label="packed (next fit) into rows of L")
axes[1].axhline(wastes[0][0], color="C1", ls="--", label="padded to the longest of all")
axes[1].axhline(np.mean(batch_wastes), color="C2", ls=":", label="padded to the longest of each batch of 16")
axes[1].set(xlabel="row length L", ylabel="padding waste", title="share of computed positions that are padding"); axes[1].legend()
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 6 · Normalising the loss: per token or per example?
#
# Once examples are packed or padded together, "the mean loss" has two meanings.
#
# - **Per token** (transformers' default, and `masked_lm_loss`): $\mathcal{L} = \sum_{i,t} m_{i,t}\ell_{i,t} / \sum_{i,t} m_{i,t}$.
#   Every answer *token* has the same weight, so an example with a 40-token answer counts 40 times
#   as much as one with a 1-token answer.
# - **Per example**: $\mathcal{L} = \frac1n\sum_i \big(\sum_t m_{i,t}\ell_{i,t} / \sum_t m_{i,t}\big)$.
#   Every *example* has the same weight; a token of a short answer weighs more than one of a long answer.
#
# Neither is wrong, but they are different objectives, and mixing them is a real bug. Two versions
# of it were common in 2024. (a) Gradient accumulation: averaging per-token means of $k$
# micro-batches gives a per-micro-batch mean, which equals neither, because micro-batches hold
# different numbers of answer tokens; transformers fixed its `Trainer` by passing
# `num_items_in_batch` (the token count of the whole accumulated batch) to the loss. (b) Packing:
# one packed row with a per-row mean weights examples by the row they landed in. With packing,
# the per-token loss over the *whole batch* is invariant to how the examples were packed, which is
# why it is the default. The figure shows, for the instruction data, how much weight each task
# gets under each rule: `twice` answers are long, `first` answers are one letter and the `$`.

# %%
answer_tokens = {task: np.mean([len(instruction_example(task, w)[1]["content"]) + 1 for w in TRAIN_WORDS[:500]]) for task in TASKS}
per_token = np.array([answer_tokens[t] for t in TASKS]) / sum(answer_tokens.values())
per_example = np.full(len(TASKS), 1 / len(TASKS))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
axes[0].bar(np.arange(4) - 0.2, per_token, width=0.4, label="per-token mean")
axes[0].bar(np.arange(4) + 0.2, per_example, width=0.4, label="per-example mean")
axes[0].set_xticks(np.arange(4), TASKS); axes[0].set(ylabel="share of the gradient", title="weight of each task in the loss"); axes[0].legend()
gen = torch.Generator().manual_seed(0)
token_counts = torch.randint(1, 40, (64,), generator=gen).float()
losses_per_token = torch.rand(64, generator=gen) + 1.0
true_mean = float((token_counts * losses_per_token).sum() / token_counts.sum())
for k in (1, 2, 4, 8, 16):
    micro = [(token_counts[i::k] * losses_per_token[i::k]).sum() / token_counts[i::k].sum() for i in range(k)]
    axes[1].bar(str(k), float(torch.stack(micro).mean()) - true_mean, color="C3")
axes[1].axhline(0, color="gray")
axes[1].set(xlabel="gradient-accumulation steps k", ylabel="mean of micro-batch means - true mean", title="the accumulation bug (one random batch)")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 7 · SFT of the course model
#
# Everything together: the training set is every (task, training word) pair, each step draws
# `examples_per_step` of them at random, packs them into rows, runs the course model with the packed
# mask and positions, and takes an AdamW step on the masked loss. Full fine-tuning, as in `23`
# (LoRA from `24` would do too). Write `train_sft` (about 10 minutes; the test's runs take about ten seconds).

# %% nbgrader={"grade": false, "grade_id": "train_sft", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_sft(model: nn.Module, conversations: list[list[dict]], steps: int, lr: float,
              examples_per_step: int = 32, max_len: int = 128, seed: int = 0) -> list[float]:
    """Supervised fine-tuning of a GPT2LMHeadModel on packed, prompt-masked conversations; returns the loss of each step.

    Each step: draw examples_per_step conversations with random.Random(seed) (with replacement), build_sft_example each,
    pack_examples them into rows of max_len, run model(input_ids, attention_mask=packed_attention_mask(...),
    position_ids=...), masked_lm_loss, backward, AdamW step (weight_decay 0) on all parameters.
    Leaves the model in eval mode. Example: losses = train_sft(load_course_model(), data, steps=60, lr=1e-3).
    """
    ### BEGIN SOLUTION
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        batch = pack_examples([build_sft_example(rng.choice(conversations)) for _ in range(examples_per_step)], max_len)
        logits = model(batch["input_ids"], attention_mask=packed_attention_mask(batch["segment_ids"]),
                       position_ids=batch["position_ids"]).logits
        loss = masked_lm_loss(logits, batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses
    ### END SOLUTION

# %% [markdown]
# Two measures of the result, both computed with the course's own tools (the Jinja template and its
# assistant mask), not with your functions: the **answer-token loss** on held-out words (the
# masked loss of the held-out conversations) and the **exact-match accuracy** of greedy answers:
# render the user turn with the generation prompt, let the model write until it produces `$` (or 20
# characters), and compare with the rule's answer.

# %%
def held_out_conversations(words, tasks=TASKS):
    """Instruction conversations built by the course's own rules (the table of section 3), for evaluation."""
    rules = {"upper": str.upper, "reverse": lambda w: w[::-1], "twice": lambda w: w + " " + w, "first": lambda w: w[:1]}
    return [[{"role": "user", "content": f"{t}: {w}"}, {"role": "assistant", "content": rules[t](w)}] for w in words for t in tasks]


@torch.no_grad()
def answer_token_loss(model, conversations):
    """The mean loss on the assistant tokens (answers and $) of the conversations, from the Jinja template's assistant mask."""
    total, count = 0.0, 0
    for chat in conversations:
        out = TOKENIZER.apply_chat_template(chat, return_dict=True, return_assistant_tokens_mask=True)
        ids = torch.tensor(out["input_ids"])
        mask = torch.tensor(out["assistant_masks"], dtype=torch.bool)
        logits = model(ids[None]).logits[0, :-1].float()
        nll = F.cross_entropy(logits, ids[1:], reduction="none")[mask[1:]]
        total, count = total + float(nll.sum()), count + int(mask[1:].sum())
    return total / count


@torch.no_grad()
def answers_from_prompts(model, prompts, max_new: int = 20):
    """Greedy continuations of raw prompt strings until the first $ (or max_new characters), one prompt at a time."""
    out = []
    for prompt in prompts:
        ids, text = encode(prompt)[None], ""
        for _ in range(max_new):
            next_id = int(model(ids).logits[0, -1].argmax())
            if VOCABULARY[next_id] == END_OF_ANSWER:
                break
            text += VOCABULARY[next_id]
            ids = torch.cat([ids, torch.tensor([[next_id]])], dim=1)
        out.append(text)
    return out


def greedy_answers(model, conversations, max_new: int = 20):
    """The model's greedy answers to the user turns of the conversations, prompted by the chat template."""
    prompts = [TOKENIZER.apply_chat_template(chat[:-1], tokenize=False, add_generation_prompt=True) for chat in conversations]
    return answers_from_prompts(model, prompts, max_new)


def exact_match(model, conversations):
    """The share of conversations whose greedy answer equals the assistant's content exactly."""
    answers = greedy_answers(model, conversations)
    return float(np.mean([a == chat[-1]["content"] for a, chat in zip(answers, conversations)]))



# %%
@scenario
def sft_run(ns, steps, lr, seed):
    """train_sft of the course model on the learner's instruction data; held-out answer loss and exact match before and after."""
    import time
    import torch
    torch.manual_seed(seed)
    model = ns.load_course_model()
    data = [ns.instruction_example(t, w) for w in ns.TRAIN_WORDS for t in ns.TASKS]
    held_out = ns.held_out_conversations(ns.HELD_OUT_WORDS[:40])
    before = ns.answer_token_loss(model, held_out)
    exact_before = ns.exact_match(model, held_out[:40])
    t0 = time.time()
    losses = ns.train_sft(model, data, steps, lr, 32, 128, seed)
    return {"losses": [float(v) for v in losses], "before": before, "after": ns.answer_token_loss(model, held_out),
            "exact_before": exact_before, "exact_after": ns.exact_match(model, held_out[:40]), "training": model.training,
            "seconds": time.time() - t0}


# %% grader={"time_limit": 60} nbgrader={"grade": true, "grade_id": "sft_lowers_held_out_answer_loss", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""train_sft returns one finite loss per step, leaves the model in eval mode, and 40 steps lower the held-out answer-token loss (on words never seen in training) far below the base model's, by a margin calibrated on the reference over seeds"""
from grader.testing import expect, learner

got = sft_run.learner(40, 1e-3, 0)
expect.equal(len(got["losses"]), 40, what="the number of losses train_sft returns for steps=40", hint="append loss.item() once per step")
expect.true(all(math.isfinite(v) for v in got["losses"]), "train_sft returned a loss that is not finite (all labels -100 give 0 / 0 = nan)")
### BEGIN HIDDEN TESTS
expect.true(not got["training"], "train_sft leaves the model in training mode: call model.eval() at the end")
for seed in (0, 1):
    if seed:
        got = sft_run.learner(40, 1e-3, seed)
    for key in ("before", "after", "exact_before", "exact_after"):
        expect.shape(got[key], (), what=f"the held-out measure {key} of the SFT run (seed {seed})")
    expect.true(math.isfinite(got["after"]), f"the held-out answer loss after train_sft is not finite (seed {seed})")
    expect.true(got["after"] < got["before"] - 1.8,
                f"40 SFT steps at lr 1e-3 moved the held-out answer-token loss from {got['before']:.2f} to {got['after']:.2f} (seed {seed}), "
                "much less than the reference does: train on the masked answer tokens (not the prompt), with the packed mask and positions, "
                "zero the gradients each step and step AdamW")
    expect.true(got["exact_after"] >= got["exact_before"], f"the held-out exact match fell during SFT (seed {seed})")
### END HIDDEN TESTS

# %% [markdown]
# The real run (about 30 seconds): 200 steps of 32 conversations, then the base model and the SFT
# model side by side on held-out words: the loss curve, the held-out answer loss and exact match
# per task, and a few answers. Watch the base model: asked `upper: abide`, it does not answer; it
# continues the text, usually with more Shakespeare, and never writes `$`.

# %%
torch.manual_seed(0)
base_model = load_course_model()
sft_model = load_course_model()
start = time.time()
sft_losses = train_sft(sft_model, [instruction_example(t, w) for w in TRAIN_WORDS for t in TASKS], steps=200, lr=1e-3)
print(f"trained in {time.time() - start:.1f} s")
report = {}
for name, model in [("base", base_model), ("SFT", sft_model)]:
    for task in TASKS:
        chats = held_out_conversations(HELD_OUT_WORDS[:30], (task,))
        report[name, task] = (answer_token_loss(model, chats), exact_match(model, chats))
for chat in held_out_conversations(HELD_OUT_WORDS[:2]):
    prompt = chat[0]["content"]
    print(f"{prompt:22s} base: {greedy_answers(base_model, [chat])[0]!r:26s} SFT: {greedy_answers(sft_model, [chat])[0]!r:16s} rule: {chat[1]['content']!r}")

fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
axes[0].plot(sft_losses)
axes[0].set(xlabel="step", ylabel="masked training loss (answer tokens)", title="SFT of the course model", yscale="log")
for i, name in enumerate(["base", "SFT"]):
    axes[1].bar(np.arange(4) + 0.4 * i, [report[name, t][0] for t in TASKS], width=0.4, label=name)
    axes[2].bar(np.arange(4) + 0.4 * i, [report[name, t][1] for t in TASKS], width=0.4, label=name)
axes[1].set_xticks(np.arange(4) + 0.2, TASKS); axes[1].set(title="held-out answer-token loss"); axes[1].legend()
axes[2].set_xticks(np.arange(4) + 0.2, TASKS); axes[2].set(title="held-out exact match (greedy)", ylim=(0, 1)); axes[2].legend()
plt.tight_layout(); plt.show()

# %% [markdown]
# What this means: the format is learnt almost at once (the loss on `$` and on the first answer
# character falls within a few dozen steps: the model now answers and stops), the easy rules follow
# (`first`, `upper`), and the copy-heavy ones (`twice`, and above all `reverse`) improve slowly: a
# 4-layer model with 800 thousand parameters has to *build* the copying circuit, which
# pretraining gave it only for Shakespeare's patterns. The held-out words were never seen in
# training, so what rises is the rule, not memorised answers.
#
# ### 7.1 What breaks at inference: three template bugs, measured
#
# The SFT model from above, prompted three wrong ways (library code, about 5 seconds):
#
# 1. **Mismatched template**: the prompt written as `[INST] upper: abide [/INST]`-like text in our
#    characters (`INST: upper: abide\nANSWER: `), a template it was not trained on.
# 2. **No generation prompt**: the user turn alone; the model must first decide who speaks next.
# 3. **A stray space** after `BOT:` (`BOT:  `, two spaces): one token off the training
#    distribution, the most common form of the bug in practice (a template that adds a space or a
#    newline that the training template did not have).

# %%
probe = held_out_conversations(HELD_OUT_WORDS[:25], ("upper", "first"))
variants = {
    "training template": lambda c: f"USER: {c[0]['content']}\nBOT: ",
    "mismatched template": lambda c: f"INST: {c[0]['content']}\nANSWER: ",
    "no generation prompt": lambda c: f"USER: {c[0]['content']}\n",
    "extra space after BOT:": lambda c: f"USER: {c[0]['content']}\nBOT:  ",
}
scores = {}
for name, make in variants.items():
    answers = answers_from_prompts(sft_model, [make(c) for c in probe])
    scores[name] = np.mean([a.strip() == c[1]["content"] for a, c in zip(answers, probe)])
plt.figure(figsize=(7, 3))
plt.barh(list(scores), list(scores.values()))
plt.xlabel("exact match on held-out upper / first"); plt.title("same model, different prompt formats"); plt.xlim(0, 1)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## Practical considerations
#
# **Template bugs practitioners hit.**
#
# - *Mismatched templates.* Training with one template and serving with another (or with the
#   base model's plain text) is silent: no error, just worse answers, as the figure above shows.
#   Always build prompts with `tokenizer.apply_chat_template` of the *fine-tuned* model, and ship
#   the template in its `tokenizer_config.json`.
# - *Missing EOS: the model never stops.* If the labels do not include the end-of-turn token
#   (`$` here, `<|im_end|>` or `<|eot_id|>`), or the pad token is set equal to EOS and the collator
#   masks every pad position (which also masks the real EOS), the model never learns to stop and
#   rambles until `max_new_tokens`. Conversely, a generation config whose `eos_token_id` is not the
#   template's end-of-turn token (Llama 3's early releases: `<|end_of_text|>` instead of
#   `<|eot_id|>`) makes a perfectly trained model run on.
# - *Double BOS.* Llama-style templates write `<s>`/`<|begin_of_text|>` themselves; encoding the
#   rendered string with `add_special_tokens=True` adds a second one. The model was trained with
#   one; two shift its behaviour measurably. Render with `tokenize=True`, or encode with
#   `add_special_tokens=False`.
# - *Tokenisation at the boundary.* With BPE tokenizers, `"BOT:" + " answer"` tokenised as one
#   string is not the concatenation of the two tokenised parts; build the labels from the tokens of
#   the *whole* rendered string (offsets or the `{% generation %}` mask), never by tokenising prompt
#   and answer separately and assuming the lengths add up. (One token per character spares us this
#   here.)
# - *Special tokens in user text.* A user who types `<|im_end|>` must not end the turn: encode user
#   content with special tokens disabled (our renderer rejects `$` in contents for the same reason).
#
# **Masking bugs.** Loss on prompt tokens (the model learns to write user turns, and short answers
# are drowned by long prompts); the mask off by one (the first answer token or the EOS is not
# trained, or the newline after it is); the shift done twice (labels pre-shifted and then given to
# transformers) or not at all (a hand-written loss scoring each position against its own input:
# training loss near 0, nothing learnt); every label $-100$ (a batch of prompts that were truncated
# before their answers: the loss is 0/0 = NaN; truncate prompts from the left, never the answer).
#
# **Packing bugs.** Attention crossing examples (cross-contamination; train-inference mismatch);
# positions not restarted (absolute position embeddings see positions never seen at inference, and
# an example that starts at column 200 of a 256 row wastes the model's capacity for late positions);
# per-row loss normalisation (examples weighted by the row they fall in). Packing changes what a
# "batch size" means: count tokens, not rows, when comparing learning rates.
#
# **Hyperparameters that matter.** The learning rate (about 1e-5 to 2e-5 for full SFT of 7B
# models, 1e-4 to 2e-4 with LoRA, with warm-up and cosine decay); the number of epochs (1 to 3: more
# memorises the answers and hurts held-out quality, LIMA's 15 epochs on 1,000 examples were an
# exception with strong regularisation); the data mix (a share of pretraining-style data, or a
# small learning rate, limits forgetting); the maximum length (truncation that cuts off answers
# silently trains the model to stop mid-sentence... or never to stop).

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | SFT objective | $\max_\theta \sum \log p_\theta(r \mid c)$: the chain rule without the prompt's terms | labels $-100$ outside the answers | every instruct / chat model |
# | chat template | messages $\to$ one string with role markers, an end-of-turn token and a generation prompt | `apply_chat_template(messages, add_generation_prompt=True)`, Jinja in `tokenizer_config.json` | ChatML, Llama's `[INST]` / header tokens |
# | assistant mask | $m_t = [x_t \in$ an answer or its end marker$]$ | `{% generation %}` blocks, `return_assistant_tokens_mask` | TRL's `assistant_only_loss` |
# | the shift | logits at $t$ score the label at $t+1$ | `logits[:, :-1]` vs `labels[:, 1:]`, `ignore_index=-100` | `model(input_ids, labels=labels).loss` |
# | packing | block-diagonal causal mask, positions restarting at 0 | 4-D `attention_mask` (B, 1, L, L) and `position_ids` | `DataCollatorWithFlattening`, flash-attention `cu_seqlens` |
# | padding waste | $1 - \sum_i T_i / (\text{rows}\times L)$ | next fit into rows of $L$ | throughput of SFT runs |
# | loss normalisation | per token $\sum m\ell / \sum m$ over the whole batch | `num_items_in_batch` across accumulation steps | transformers' Trainer, TRL |
