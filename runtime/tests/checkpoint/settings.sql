-- Checkpointing of the checkpoint tests' jobs; ${DIR} is the test's scratch folder.
SET 'execution.checkpointing.interval' = '400 ms';
SET 'execution.checkpointing.num-retained' = '2';
SET 'state.checkpoints.dir' = '${DIR}/checkpoints';
SET 'state.savepoints.dir' = '${DIR}/savepoints';
