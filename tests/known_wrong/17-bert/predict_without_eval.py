"""Predicting with the model still in training mode: dropout stays on, so two predictions of the same sentence disagree and accuracy drops. Call model.eval() (and head.eval()) and predict under torch.no_grad()."""
import torch


def predict(model, head, input_ids, attention_mask):
    # BUG: no model.eval(): dropout is still active after fine_tune
    with torch.no_grad():
        hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return head(cls_pool(hidden, attention_mask))
