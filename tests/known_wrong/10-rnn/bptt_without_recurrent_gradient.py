"""Backpropagation through time that drops the recurrent term: each state's gradient is only its direct part grad_hs[t], without W_hh^T eps_{t+1} flowing back from the later steps, so no gradient travels through time. The total gradient is delta_t = grad_hs[t] + eps_{t+1} @ W_hh."""
import torch


def rnn_bptt(xs, h0, weight_ih, weight_hh, bias_ih, bias_hh, grad_hs):
    T = xs.shape[0]
    hs = [h0]
    for t in range(T):
        hs.append(torch.tanh(xs[t] @ weight_ih.T + bias_ih + hs[t] @ weight_hh.T + bias_hh))
    grad_xs = torch.zeros_like(xs)
    grad_w_ih, grad_w_hh = torch.zeros_like(weight_ih), torch.zeros_like(weight_hh)
    grad_bias = torch.zeros_like(bias_ih)
    total = torch.zeros_like(grad_hs)
    from_later = torch.zeros_like(h0)
    for t in reversed(range(T)):
        delta = grad_hs[t]  # BUG: + from_later is missing
        total[t] = delta
        eps = delta * (1 - hs[t + 1] ** 2)
        grad_w_ih += eps.T @ xs[t]
        grad_w_hh += eps.T @ hs[t]
        grad_bias += eps.sum(dim=0)
        grad_xs[t] = eps @ weight_ih
        from_later = eps @ weight_hh
    return {"xs": grad_xs, "h0": from_later, "weight_ih": grad_w_ih, "weight_hh": grad_w_hh,
            "bias_ih": grad_bias, "bias_hh": grad_bias.clone(), "hs": total}
