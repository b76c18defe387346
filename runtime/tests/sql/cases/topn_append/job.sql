-- Top-N over an append-only input: the 3 highest scores per game, with the row number
-- in the output. A new row entering the top 3 shifts the rows below it, which updates
-- their row numbers (-U/+U) and pushes the old third row out; the result is updating.
-- Equal scores (go: p3 and p6, both 40) keep their arrival order.
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
  game STRING,
  player STRING,
  score INT,
  rn BIGINT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT game, player, score, rn
FROM (
  SELECT game, player, score,
    ROW_NUMBER() OVER (PARTITION BY game ORDER BY score DESC) AS rn
  FROM scores
)
WHERE rn <= 3;
