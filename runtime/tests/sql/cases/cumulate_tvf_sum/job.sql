-- CUMULATE window TVF: 20 s windows that report every 5 s. Each row counts in every
-- cumulating window of its 20 s period from its own step onwards.
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
  item STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  cnt BIGINT,
  total_amount INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT item, window_start, window_end, COUNT(*), SUM(amount)
FROM TABLE(CUMULATE(TABLE orders, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '20' SECOND))
GROUP BY item, window_start, window_end;
