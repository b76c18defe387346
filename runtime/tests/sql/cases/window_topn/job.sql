-- Window Top-N: the 2 best scores per game within each 10 s TUMBLE window, computed
-- directly on the windowed rows (window TVF + ROW_NUMBER partitioned by window_start,
-- window_end and game). Emitted once per window when it fires; append-only result.
CREATE TABLE scores (
  player STRING,
  game STRING,
  score INT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  game STRING,
  player STRING,
  score INT,
  rn BIGINT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT window_start, window_end, game, player, score, rn
FROM (
  SELECT window_start, window_end, game, player, score,
    ROW_NUMBER() OVER (PARTITION BY window_start, window_end, game ORDER BY score DESC) AS rn
  FROM TABLE(TUMBLE(TABLE scores, DESCRIPTOR(ts), INTERVAL '10' SECOND))
)
WHERE rn <= 2;
