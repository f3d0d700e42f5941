"""How people prove who they are: factors, and the chain that runs them."""
