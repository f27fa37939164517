"""TOML presets: paper.toml (the paper's recipe), default.toml (the default weights), synthetic.toml
(the joint-angle prior alone), tiny.toml (tests)."""
