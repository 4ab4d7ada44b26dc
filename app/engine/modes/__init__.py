"""How a critique runs, on two explicit axes.

* the *pipeline* (how): one pass, or RAG (profile the photo on the base model, retrieve the
  advisor's nearest reference profiles, critique with them) -- :mod:`.pipelines`;
* the *weights* (which model answers): the base, the advisor's active adapter, a fixed adapter
  folder, or an A/B draw between the base and one adapter -- :mod:`.weights`, a value carried
  by each generation request.

The modes users pick (``baseline``, ``rag``, ``lora``, ``auto``) are presets over the two axes
(:mod:`.presets`), resolved by one fallback walk (:mod:`.resolve`); ``serve --model-mode`` is a
weights policy that overrides the weights axis after the pipeline is chosen.
"""
