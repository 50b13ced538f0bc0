"""A checkpoint without the random number generators' states: the resumed run draws other dropout masks, sequence lengths and noise, so it is a different run (as good on average, never the same numbers). Save torch.get_rng_state(), np.random.get_state() and random.getstate(), and restore them last when loading."""
import torch


def save_checkpoint(path, step, model, optimizer, scheduler, sampler):
    torch.save({
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "sampler": sampler.state_dict(),
    }, path)  # BUG: no generator states


def load_checkpoint(path, model, optimizer, scheduler, sampler):
    checkpoint_state = torch.load(path, weights_only=False)
    model.load_state_dict(checkpoint_state["model"])
    optimizer.load_state_dict(checkpoint_state["optimizer"])
    scheduler.load_state_dict(checkpoint_state["scheduler"])
    sampler.load_state_dict(checkpoint_state["sampler"])
    return checkpoint_state["step"]
