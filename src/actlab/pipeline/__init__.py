"""The run pipeline: config -> data -> model -> probe -> train -> track, and the sweep around it."""
