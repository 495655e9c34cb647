"""Package data, not code: the sample exports that ship inside signalboard as `signalboard._sample`."""
