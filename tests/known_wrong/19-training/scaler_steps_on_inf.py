"""A loss scaler that steps the optimizer even when unscale_ found inf or nan gradients: one overflow writes inf/nan into the weights (and Adam's moments) and the run is lost. In step(), skip optimizer.step() when found_inf is set; update() then halves the scale."""
import torch


class LossScaler:
    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        self.scale_value = float(init_scale)
        self.growth_factor, self.backoff_factor, self.growth_interval = growth_factor, backoff_factor, growth_interval
        self.growth_tracker = 0
        self.found_inf = None

    def scale(self, loss):
        return loss * self.scale_value

    def unscale_(self, optimizer):
        if self.found_inf is not None:
            return
        found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad.mul_(1.0 / self.scale_value)
                if not torch.isfinite(p.grad).all():
                    found_inf = True
        self.found_inf = found_inf

    def step(self, optimizer):
        self.unscale_(optimizer)
        optimizer.step()  # BUG: steps on inf/nan gradients too
        return True

    def update(self):
        if self.found_inf:
            self.scale_value *= self.backoff_factor
            self.growth_tracker = 0
        else:
            self.growth_tracker += 1
            if self.growth_tracker == self.growth_interval:
                self.scale_value *= self.growth_factor
                self.growth_tracker = 0
        self.found_inf = None
