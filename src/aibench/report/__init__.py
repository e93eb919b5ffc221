"""Tables and the report a user reads (the paper's tables and figures for the user's own machine)."""
