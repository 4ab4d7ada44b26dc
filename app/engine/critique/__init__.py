"""The report (schema, parser), the prompts shared with training, and renderings of a critique."""
