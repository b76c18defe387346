-- Top-N without the row number in the output: the same top 3 per game as topn_append,
-- but since rn is not selected, rows are only inserted (+I) when they enter the top 3 and
-- deleted (-D) when pushed out; no row-number updates.
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
  score INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT game, player, score
FROM (
  SELECT *,
    ROW_NUMBER() OVER (PARTITION BY game ORDER BY score DESC) AS rn
  FROM scores
)
WHERE rn <= 3;
