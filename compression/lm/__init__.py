"""Language models (issue 18): a tiny GPT trained here on CPython's documentation text and
SmolLM2-135M read from its GGUF file, measured by perplexity, token accuracy, KL and agreement."""
