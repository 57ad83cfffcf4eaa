"""``trader247 migrate``: turn the original bot's config directory (247trader-v2's
``policy.yaml``, ``universe.yaml``, ``app.yaml``) into a freqtrade ``config.json`` plus our
``policy.yaml`` / ``universe.yaml``, with a Markdown report of what became of every key.

``trader247.migrate.build.migrate(source_dir, target_dir)`` is the whole job; ``table`` lists the
rules. The package itself imports nothing, so importing one of its modules never runs the others
(``build`` imports ``table``, which imports its sibling modules through this package).
"""
