"""Developer tools that live beside the application, never inside it: `src/` never imports them
(import-linter), and the production image does not ship them."""
