# Everyday commands. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  ?= 2.13.0

.PHONY: install run test test-all bench bench-predict bench-recommend bench-intent bench-sentiment bench-sentiment-few bench-aspects bench-serve lint format clean

install: $(STAMP)

# Re-installs only when the project's metadata changed, so repeated calls are instant.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of PyTorch first, so nothing below pulls the CUDA one.
	$(BIN)/python -m pip install --quiet torch==$(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/retain run

test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m ''

SHARED := ../shared/data

bench: install bench-predict bench-recommend bench-intent bench-sentiment bench-serve
	@mkdir -p bench-results
	$(BIN)/retain bench ingest --json bench-results/ingest.json
	$(BIN)/retain bench retention --seeds 5 --json bench-results/retention.json > /dev/null
	$(BIN)/retain bench popularity --json bench-results/popularity-demo.json > /dev/null
	@if [ -f $(SHARED)/online-retail/online_retail.csv.gz ]; then \
	  $(BIN)/retain bench popularity --data $(SHARED)/online-retail/online_retail.csv.gz \
	    --format online-retail --json bench-results/popularity-online-retail.json > /dev/null; \
	else echo "skipping Online Retail: $(SHARED)/online-retail not found"; fi

# CDNOW runs need ../shared/data (see its SOURCE.md); the demo and scale runs need nothing.
bench-predict: install
	@mkdir -p bench-results
	@for f in master sample; do \
	  if [ -f $(SHARED)/cdnow/CDNOW_$$f.txt ]; then \
	    $(BIN)/retain bench predict --data $(SHARED)/cdnow/CDNOW_$$f.txt --format cdnow \
	      --calibration-end 1997-09-30 --holdout-end 1998-06-30 --seeds 3 \
	      --json bench-results/predict-cdnow-$$f.json > /dev/null || exit 1; \
	  else echo "skipping CDNOW $$f: $(SHARED)/cdnow not found"; fi; \
	done
	@if [ -f $(SHARED)/online-retail/online_retail.csv.gz ]; then \
	  $(BIN)/retain bench predict --data $(SHARED)/online-retail/online_retail.csv.gz \
	    --format online-retail --calibration-end 2011-08-31 --holdout-end 2011-12-09 --seeds 3 \
	    --json bench-results/predict-online-retail.json > /dev/null || exit 1; \
	else echo "skipping Online Retail: $(SHARED)/online-retail not found"; fi
	$(BIN)/retain bench predict --seeds 3 --json bench-results/predict-demo.json > /dev/null
	$(BIN)/retain bench predict-scale --customers 1000000 --json bench-results/predict-scale.json > /dev/null

# Leave-one-out full ranking; needs ../shared/data (about 45 min for Beauty with 3 seeds).
bench-recommend: install
	@mkdir -p bench-results
	@if [ -f $(SHARED)/amazon-beauty/Beauty.txt ]; then \
	  $(BIN)/retain bench recommend --data $(SHARED)/amazon-beauty/Beauty.txt \
	    --attributes $(SHARED)/amazon-beauty/Beauty_item2attributes.json --seeds 3 \
	    --json bench-results/recommend-beauty.json > /dev/null || exit 1; \
	else echo "skipping Beauty: $(SHARED)/amazon-beauty not found"; fi
	@if [ -f $(SHARED)/amazon18-scientific/Scientific.inter.json ]; then \
	  $(BIN)/retain bench recommend --data $(SHARED)/amazon18-scientific/Scientific.inter.json \
	    --attributes $(SHARED)/amazon18-scientific/Scientific.item.json --seeds 3 \
	    --json bench-results/recommend-scientific.json > /dev/null || exit 1; \
	else echo "skipping Scientific: $(SHARED)/amazon18-scientific not found"; fi

# Banking77 (official split), then 27 of its intents held out as out-of-scope data.
B77 := --data $(SHARED)/banking77/train.csv --test $(SHARED)/banking77/test.csv
# Bitext questions against the demo articles, then against a public FAQ this project did not write.
FAQ := $(SHARED)/ecommerce-faq/Ecommerce_FAQ_Chatbot_dataset.json
bench-intent: install
	@mkdir -p bench-results
	@if [ -f $(SHARED)/banking77/train.csv ]; then \
	  $(BIN)/retain bench intent $(B77) --json bench-results/intent-banking77.json > /dev/null && \
	  $(BIN)/retain bench intent $(B77) --oos-intents 27 \
	    --json bench-results/intent-banking77-oos.json > /dev/null && \
	  $(BIN)/retain bench intent $(B77) --oos-intents 27 --oos-threshold-only \
	    --json bench-results/intent-banking77-oos-threshold.json > /dev/null || exit 1; \
	else echo "skipping Banking77: $(SHARED)/banking77 not found"; fi
	@if [ -d $(SHARED)/bitext-customer-support ] && [ -f $(FAQ) ]; then \
	  $(BIN)/retain bench assistant \
	    --data $(SHARED)/bitext-customer-support/cs-8k/Bitext_Sample_Customer_Service_Training_Dataset.csv \
	    --json bench-results/assistant-bitext-8k.json > /dev/null && \
	  $(BIN)/retain bench assistant \
	    --data $(SHARED)/bitext-customer-support/cs-20k/TrainingdatasetBitextsample.csv \
	    --json bench-results/assistant-bitext-20k.json > /dev/null && \
	  $(BIN)/retain bench assistant --kb $(FAQ) \
	    --data $(SHARED)/bitext-customer-support/cs-8k/Bitext_Sample_Customer_Service_Training_Dataset.csv \
	    --json bench-results/assistant-bitext-8k-faq.json > /dev/null && \
	  $(BIN)/retain bench assistant --kb $(FAQ) \
	    --data $(SHARED)/bitext-customer-support/cs-20k/TrainingdatasetBitextsample.csv \
	    --json bench-results/assistant-bitext-20k-faq.json > /dev/null || exit 1; \
	else echo "skipping the assistant benchmark: bitext-customer-support or ecommerce-faq not in $(SHARED)"; fi
	@if [ -d $(SHARED)/ecd-sample ]; then \
	  $(BIN)/retain bench assistant --format ecd --data $(SHARED)/ecd-sample \
	    --json bench-results/assistant-ecd.json > /dev/null || exit 1; \
	else echo "skipping the Chinese assistant benchmark: $(SHARED)/ecd-sample not found"; fi
	@if [ -d $(SHARED)/amazon-multidomain-sentiment ] && [ -d $(SHARED)/bitext-customer-support ]; then \
	  $(BIN)/retain bench chat-sentiment --reviews $(SHARED)/amazon-multidomain-sentiment \
	    --data $(SHARED)/bitext-customer-support/cs-8k/Bitext_Sample_Customer_Service_Training_Dataset.csv \
	    --json bench-results/chat-sentiment.json > /dev/null || exit 1; \
	else echo "skipping the chat-sentiment benchmark: amazon-multidomain-sentiment or bitext-customer-support not in $(SHARED)"; fi

# online_shopping_10_cats (Chinese, 62,774 reviews) and the Multi-Domain Amazon reviews (English).
bench-sentiment: install
	@mkdir -p bench-results
	@if [ -f $(SHARED)/chinese-reviews/online_shopping_10_cats.csv ]; then \
	  $(BIN)/retain bench sentiment --data $(SHARED)/chinese-reviews/online_shopping_10_cats.csv \
	    --json bench-results/sentiment-online-shopping.json > /dev/null || exit 1; \
	else echo "skipping online_shopping_10_cats: $(SHARED)/chinese-reviews not found"; fi
	@if [ -d $(SHARED)/amazon-multidomain-sentiment ]; then \
	  $(BIN)/retain bench sentiment --data $(SHARED)/amazon-multidomain-sentiment \
	    --encoder all-MiniLM-L6-v2 --json bench-results/sentiment-amazon-multidomain.json \
	    > /dev/null || exit 1; \
	else echo "skipping the Multi-Domain reviews: $(SHARED)/amazon-multidomain-sentiment not found"; fi
	@$(MAKE) --no-print-directory bench-aspects

# A shop with 500 or 1,500 labelled reviews: the general reviews and the lexicon against the
# same model without them and the character n-gram baseline (each on the same reviews).
bench-sentiment-few: install
	@mkdir -p bench-results
	@if [ -f $(SHARED)/chinese-reviews/online_shopping_10_cats.csv ] && [ -d $(SHARED)/amazon-multidomain-sentiment ]; then \
	  for n in 500 1500; do \
	    $(BIN)/retain bench sentiment --data $(SHARED)/chinese-reviews/online_shopping_10_cats.csv \
	      --train-size $$n --json bench-results/sentiment-online-shopping-$$n.json > /dev/null || exit 1; \
	    $(BIN)/retain bench sentiment --data $(SHARED)/amazon-multidomain-sentiment \
	      --train-size $$n --json bench-results/sentiment-amazon-multidomain-$$n.json > /dev/null || exit 1; \
	  done; \
	else echo "skipping: online_shopping_10_cats or the Multi-Domain reviews not in $(SHARED)"; fi

# Aspect polarity on SemEval-2014 laptops and restaurants; the review model learns from the
# Multi-Domain Amazon reviews (star ratings, no aspect labels), as a shop's model would.
bench-aspects: install
	@mkdir -p bench-results
	@if [ -d $(SHARED)/semeval14-absa ] && [ -d $(SHARED)/amazon-multidomain-sentiment ]; then \
	  for domain in Laptops Restaurants; do \
	    $(BIN)/retain bench aspects --data $(SHARED)/semeval14-absa/$${domain}_Test_Gold.xml.seg \
	      --dev $(SHARED)/semeval14-absa/$${domain}_Train.xml.seg \
	      --reviews $(SHARED)/amazon-multidomain-sentiment \
	      --json bench-results/aspects-$$domain.json > /dev/null || exit 1; \
	  done; \
	else echo "skipping aspects: $(SHARED)/semeval14-absa or the Multi-Domain reviews not found"; fi

# The service under wrk on a freshly built demo shop (apt-get install wrk).
bench-serve: install
	@mkdir -p bench-results
	RETAIN_DATA_DIR=$$(mktemp -d) $(BIN)/retain bench serve --json bench-results/serve.json > /dev/null

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) retain-data bench-results .pytest_cache .mypy_cache .ruff_cache
