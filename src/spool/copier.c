/* copier: journals copied into the spool by a thread of the worker (see
 * copier.h). The owner and the thread share only `job`, `done`, `status`
 * and `dropped`, under the mutex; the journal itself passes from one to the other with
 * them, so only one thread ever touches it at a time. */
#include "spool/copier.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "spool/spool.h"

struct spool_copier {
    spool *s;                   /* the thread's own handle */
    spool_checkpointer *ckpt;
    int64_t budget_ns;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;        /* a job, or stop */
    pthread_cond_t finished;    /* a job is done */
    spool_journal *job;         /* given, not yet copied */
    spool_journal *done;        /* copied (or tried), not yet collected */
    int status;                 /* of done */
    int64_t dropped;            /* noted by the owner, not yet handed to s */
    int stop;
    int holds;                  /* owner's view: a journal was given and not collected */
};

static void *run(void *arg)
{
    spool_copier *c = arg;
    /* so that top -H and ps -L tell the threads apart */
    (void)pthread_setname_np(pthread_self(), "cruddur-copier");
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->job == NULL && !c->stop)
            pthread_cond_wait(&c->work, &c->mu);
        if (c->job == NULL)
            break;              /* stop, with nothing left to copy */
        spool_journal *j = c->job;
        int64_t dropped = c->dropped;
        c->dropped = 0;
        pthread_mutex_unlock(&c->mu);
        if (dropped > 0)
            spool_note_dropped(c->s, dropped);     /* written with the copy */
        int status = spool_journal_flush(j, c->s, c->budget_ns);
        if (status == SPOOL_OK)
            spool_checkpointer_poke(c->ckpt, spool_wal_pages(c->s));
        pthread_mutex_lock(&c->mu);
        c->job = NULL;
        c->done = j;
        c->status = status;
        pthread_cond_signal(&c->finished);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int spool_copier_start(const char *spool_path, int64_t budget_ns, spool_checkpointer *ckpt,
                       spool_copier **out, char *err, size_t err_size)
{
    *out = NULL;
    spool_copier *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, err_size, "copier: out of memory");
        return SPOOL_ERROR;
    }
    c->ckpt = ckpt;
    c->budget_ns = budget_ns;
    int status = spool_open(spool_path, SPOOL_SMALL_CACHE, 0, &c->s, err, err_size);
    if (status != SPOOL_OK) {
        free(c);
        return status;
    }
    if (ckpt != NULL)
        spool_set_no_checkpoint(c->s, 1);

    pthread_condattr_t ca;
    int ok_mu = 0, ok_work = 0, ok_fin = 0;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);    /* for collect's timed wait */
    ok_mu = pthread_mutex_init(&c->mu, NULL) == 0;
    ok_work = pthread_cond_init(&c->work, NULL) == 0;
    ok_fin = pthread_cond_init(&c->finished, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok_mu || !ok_work || !ok_fin || pthread_create(&c->thread, NULL, run, c) != 0)
        goto fail;
    *out = c;
    return SPOOL_OK;

fail:
    if (ok_fin)
        pthread_cond_destroy(&c->finished);
    if (ok_work)
        pthread_cond_destroy(&c->work);
    if (ok_mu)
        pthread_mutex_destroy(&c->mu);
    spool_close(c->s);
    free(c);
    snprintf(err, err_size, "copier: cannot start a thread");
    return SPOOL_ERROR;
}

int spool_copier_give(spool_copier *c, spool_journal *j)
{
    if (c == NULL || j == NULL)
        return SPOOL_ERROR;
    if (c->holds)
        return SPOOL_BUSY;
    pthread_mutex_lock(&c->mu);
    c->job = j;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    c->holds = 1;
    return SPOOL_OK;
}

spool_journal *spool_copier_collect(spool_copier *c, int64_t wait_ns, int *status)
{
    if (c == NULL || !c->holds)
        return NULL;
    pthread_mutex_lock(&c->mu);
    if (c->done == NULL && wait_ns > 0) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t ns = until.tv_nsec + wait_ns % 1000000000;
        until.tv_sec += (time_t)(wait_ns / 1000000000 + ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        while (c->done == NULL &&
               pthread_cond_timedwait(&c->finished, &c->mu, &until) == 0) {
        }
    }
    spool_journal *j = c->done;
    if (j != NULL) {
        if (status != NULL)
            *status = c->status;
        c->done = NULL;
        c->holds = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return j;
}

int spool_copier_holds(const spool_copier *c)
{
    return c != NULL && c->holds;
}

void spool_copier_note_dropped(spool_copier *c, int64_t n)
{
    if (c == NULL || n <= 0)
        return;
    pthread_mutex_lock(&c->mu);
    c->dropped += n;
    pthread_mutex_unlock(&c->mu);
}

spool_journal *spool_copier_stop(spool_copier *c, int *status, int64_t *dropped)
{
    if (c == NULL)
        return NULL;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    spool_journal *j = c->done;
    if (j != NULL && status != NULL)
        *status = c->status;
    int64_t left = c->dropped + spool_take_dropped(c->s);
    if (dropped != NULL)
        *dropped = left;
    pthread_cond_destroy(&c->finished);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->mu);
    spool_close(c->s);
    free(c);
    return j;
}
