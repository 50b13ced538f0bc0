"""Early stopping that keeps the weights of the epoch it stops at instead of restoring the best one: those are `patience` epochs past the best validation loss, exactly the overfitting early stopping is meant to avoid. Return as best_epoch the epoch of the last improvement."""
import math


def early_stopping(val_losses, patience, min_delta=0.0):
    best_loss, wait = math.inf, 0
    for epoch, loss in enumerate(val_losses):
        if loss < best_loss - min_delta:
            best_loss, wait = loss, 0
        else:
            wait += 1
            if wait >= patience:
                return {"stopped": True, "stop_epoch": epoch, "best_epoch": epoch}  # BUG: the last epoch, not the best
    return {"stopped": False, "stop_epoch": len(val_losses) - 1, "best_epoch": len(val_losses) - 1}  # BUG
