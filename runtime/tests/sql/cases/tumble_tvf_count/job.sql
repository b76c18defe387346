-- TUMBLE window TVF (10 s) grouped by window and user: COUNT(*), SUM, MAX per user and
-- window. Several users, several windows (one empty window, 10:00:20-10:00:30, produces
-- nothing), rows slightly out of order but within the 2 s watermark delay, and the last
-- window flushed at the end of the input.
CREATE TABLE orders (
  user_name STRING,
  item STRING,
  amount INT,
  price DECIMAL(10, 2),
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  user_name STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  cnt BIGINT,
  total_amount INT,
  max_price DECIMAL(10, 2)
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT user_name, window_start, window_end, COUNT(*), SUM(amount), MAX(price)
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY user_name, window_start, window_end;
