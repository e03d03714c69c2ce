/* workq: worker threads for blocking disk work (see workq.h). */
#include "lib/workq.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/xalloc.h"

struct workq_job {
	struct workq_job *next;
	workq_fn work, done;
	void *arg;
};

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct workq_job *jobs, **jobs_tail;
	struct workq_job *finished, **finished_tail;
	int wake[2];		/* pipe: workers -> loop */
	struct event *ev;
	unsigned pending;
};

static void *
workq_thread(void *arg)
{
	struct workq *q = arg;

	for (;;) {
		struct workq_job *j;
		bool notify;

		pthread_mutex_lock(&q->mu);
		while (q->jobs == NULL)
			pthread_cond_wait(&q->cv, &q->mu);
		j = q->jobs;
		q->jobs = j->next;
		if (q->jobs == NULL)
			q->jobs_tail = &q->jobs;
		pthread_mutex_unlock(&q->mu);

		j->work(j->arg);

		j->next = NULL;
		pthread_mutex_lock(&q->mu);
		notify = q->finished == NULL;
		*q->finished_tail = j;
		q->finished_tail = &j->next;
		pthread_mutex_unlock(&q->mu);
		if (notify) {
			char c = 0;
			while (write(q->wake[1], &c, 1) < 0 && errno == EINTR)
				;
		}
	}
	return NULL;
}

static void
workq_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workq *q = arg;
	struct workq_job *j, *next;
	char drain[64];

	(void)what;
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&q->mu);
	j = q->finished;
	q->finished = NULL;
	q->finished_tail = &q->finished;
	pthread_mutex_unlock(&q->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		q->pending--;
		if (j->done)
			j->done(j->arg);
		free(j);
	}
}

struct workq *
workq_new(struct event_base *base, int nthreads)
{
	struct workq *q = xcalloc(1, sizeof(*q));
	int i;

	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->jobs_tail = &q->jobs;
	q->finished_tail = &q->finished;
	if (pipe2(q->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		fatal("workq: pipe");
	q->ev = event_new(base, q->wake[0], EV_READ | EV_PERSIST,
	    workq_done_cb, q);
	event_add(q->ev, NULL);
	for (i = 0; i < nthreads; i++) {
		pthread_t t;
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		if (pthread_create(&t, &attr, workq_thread, q) != 0)
			fatalx("workq: cannot start thread");
		pthread_attr_destroy(&attr);
	}
	return q;
}

void
workq_submit(struct workq *q, workq_fn work, workq_fn done, void *arg)
{
	struct workq_job *j = xmalloc(sizeof(*j));

	j->next = NULL;
	j->work = work;
	j->done = done;
	j->arg = arg;
	q->pending++;
	pthread_mutex_lock(&q->mu);
	*q->jobs_tail = j;
	q->jobs_tail = &j->next;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

unsigned
workq_pending(const struct workq *q)
{
	return q->pending;
}
