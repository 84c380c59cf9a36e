"""Task loaders: each turns the original release files into `Pair`s (training) and `EvalItem`s (scoring)."""
