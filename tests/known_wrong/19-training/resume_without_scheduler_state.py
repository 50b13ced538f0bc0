"""A checkpoint without the learning-rate scheduler's state: the resumed run's schedule restarts (warm-up again, at the wrong point of the cosine), a jump in the learning rate. Save scheduler.state_dict() and restore it with scheduler.load_state_dict()."""
import random

import numpy as np
import torch


def save_checkpoint(path, step, model, optimizer, scheduler, sampler):
    torch.save({
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "sampler": sampler.state_dict(),  # BUG: no scheduler state
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    }, path)


def load_checkpoint(path, model, optimizer, scheduler, sampler):
    checkpoint_state = torch.load(path, weights_only=False)
    model.load_state_dict(checkpoint_state["model"])
    optimizer.load_state_dict(checkpoint_state["optimizer"])
    sampler.load_state_dict(checkpoint_state["sampler"])
    torch.set_rng_state(checkpoint_state["rng"]["torch"])
    np.random.set_state(checkpoint_state["rng"]["numpy"])
    random.setstate(checkpoint_state["rng"]["python"])
    return checkpoint_state["step"]
