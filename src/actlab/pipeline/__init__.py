"""The run pipeline: config -> data -> model -> probe -> train -> track, and the sweep around it."""

# A sweep job's result, written into its Hydra job folder (read by the console and the launcher,
# which imports this light module only: Hydra imports launcher plugins at every start).
OUTCOME_FILE = "outcome.json"
