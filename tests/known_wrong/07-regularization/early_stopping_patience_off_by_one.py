"""Early stopping off by one in the patience: stopping when the count of epochs without improvement exceeds patience (wait > patience) runs one useless epoch more than Keras, Lightning and Hugging Face do. Stop at the first epoch where wait >= patience."""
import math


def early_stopping(val_losses, patience, min_delta=0.0):
    best_loss, best_epoch, wait = math.inf, 0, 0
    for epoch, loss in enumerate(val_losses):
        if loss < best_loss - min_delta:
            best_loss, best_epoch, wait = loss, epoch, 0
        else:
            wait += 1
            if wait > patience:  # BUG: one epoch too late
                return {"stopped": True, "stop_epoch": epoch, "best_epoch": best_epoch}
    return {"stopped": False, "stop_epoch": len(val_losses) - 1, "best_epoch": best_epoch}
