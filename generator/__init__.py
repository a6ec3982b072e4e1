"""ftplan: answers about a fine-tuning use case in, an expert strategy and a runnable training repo out."""

__version__ = "0.1.0"
