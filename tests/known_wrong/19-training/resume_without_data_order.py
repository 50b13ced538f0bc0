"""A checkpoint without the data order (the sampler's position, epoch order and generator): the resumed run starts the data from another shuffle, repeating some batches and skipping others. Save sampler.state_dict() and restore it with sampler.load_state_dict()."""
import random

import numpy as np
import torch


def save_checkpoint(path, step, model, optimizer, scheduler, sampler):
    torch.save({
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),  # BUG: no sampler state
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    }, path)


def load_checkpoint(path, model, optimizer, scheduler, sampler):
    checkpoint_state = torch.load(path, weights_only=False)
    model.load_state_dict(checkpoint_state["model"])
    optimizer.load_state_dict(checkpoint_state["optimizer"])
    scheduler.load_state_dict(checkpoint_state["scheduler"])
    torch.set_rng_state(checkpoint_state["rng"]["torch"])
    np.random.set_state(checkpoint_state["rng"]["numpy"])
    random.setstate(checkpoint_state["rng"]["python"])
    return checkpoint_state["step"]
