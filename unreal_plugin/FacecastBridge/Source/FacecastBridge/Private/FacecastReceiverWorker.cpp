#include "FacecastReceiverWorker.h"

#include "HAL/RunnableThread.h"
#include "IImageWrapper.h"
#include "IImageWrapperModule.h"
#include "Misc/ScopeLock.h"
#include "Modules/ModuleManager.h"

#include <chrono>

namespace
{
// Workers told to stop whose threads may still run; each is freed once its Run is done.
FCriticalSection GRetiredMutex;
TArray<TSharedPtr<FFacecastReceiverWorker, ESPMode::ThreadSafe>> GRetired;
}

TSharedPtr<FFacecastReceiverWorker, ESPMode::ThreadSafe> FFacecastReceiverWorker::Launch(const FString& Host, uint16 Port, bool bPictures)
{
	ReapFinished();
	// Modules load on the game thread; the worker then only calls the loaded one.
	IImageWrapperModule* Wrappers = bPictures ? &FModuleManager::LoadModuleChecked<IImageWrapperModule>(TEXT("ImageWrapper")) : nullptr;
	TSharedPtr<FFacecastReceiverWorker, ESPMode::ThreadSafe> Worker = MakeShareable(new FFacecastReceiverWorker(Wrappers));
	Worker->Client.Start(TCHAR_TO_UTF8(*Host), Port,
	                     {bPictures ? facecast::ZmtpClient::kTopicFrame : facecast::ZmtpClient::kTopicParams});
	Worker->Thread = FRunnableThread::Create(Worker.Get(), TEXT("FacecastReceiver"));
	return Worker->Thread ? Worker : nullptr;  // without a thread, dropping it stops the client
}

void FFacecastReceiverWorker::Retire(TSharedPtr<FFacecastReceiverWorker, ESPMode::ThreadSafe> Worker)
{
	if (Worker)
	{
		Worker->Stop();
		FScopeLock Lock(&GRetiredMutex);
		GRetired.Add(MoveTemp(Worker));
	}
	ReapFinished();
}

void FFacecastReceiverWorker::ReapFinished()
{
	FScopeLock Lock(&GRetiredMutex);
	GRetired.RemoveAll([](const TSharedPtr<FFacecastReceiverWorker, ESPMode::ThreadSafe>& Worker) { return Worker->bFinished.load(); });
}

void FFacecastReceiverWorker::JoinRetired()
{
	TArray<TSharedPtr<FFacecastReceiverWorker, ESPMode::ThreadSafe>> Waiting;
	{
		FScopeLock Lock(&GRetiredMutex);
		Waiting = MoveTemp(GRetired);
	}
	Waiting.Empty();  // each destructor waits for its thread
}

FFacecastReceiverWorker::FFacecastReceiverWorker(IImageWrapperModule* InImageWrappers) : ImageWrappers(InImageWrappers) {}

FFacecastReceiverWorker::~FFacecastReceiverWorker()
{
	if (Thread)
	{
		Stop();
		Thread->Kill(true);  // waits for Run to return: at once for a retired worker that has finished
		delete Thread;
	}
}  // then Client's destructor: its thread was joined at the end of Run (or, without a Run, is joined now)

bool FFacecastReceiverWorker::TakeLatest(FFacecastReceived& Out)
{
	FScopeLock Lock(&Mutex);
	if (!bHasLatest) return false;
	Out = MoveTemp(Latest);
	bHasLatest = false;
	return true;
}

uint32 FFacecastReceiverWorker::Run()
{
	while (!bStop)
	{
		FFacecastReceived Received;
		if (!Client.WaitTakeLatest(Received.Frame, std::chrono::milliseconds(50))) continue;
		MakePicture(Received);
		FScopeLock Lock(&Mutex);
		Latest = MoveTemp(Received);  // an older one the game thread did not take is dropped
		bHasLatest = true;
	}
	Client.Stop();  // joins the socket's thread (up to ~0.5 s while connecting) here, not on the game thread
	bFinished = true;
	return 0;
}

void FFacecastReceiverWorker::MakePicture(FFacecastReceived& Received) const
{
	facecast::Frame& Frame = Received.Frame;
	const int Bpp = facecast::BytesPerPixel(Frame.format);
	if (ImageWrappers && Bpp > 0 && !Frame.payload.empty())
	{
		// The decoder checked stride >= width * Bpp and payload == stride * height.
		Received.Bgra.SetNumUninitialized(int64(Frame.width) * Frame.height * 4);
		const bool bBgr = Frame.format == facecast::PixelFormat::Bgra8;
		for (uint32 y = 0; y < Frame.height; ++y)
		{
			const uint8* Src = Frame.payload.data() + size_t(y) * Frame.stride;
			uint8* Dst = Received.Bgra.GetData() + size_t(y) * Frame.width * 4;
			for (uint32 x = 0; x < Frame.width; ++x, Src += Bpp, Dst += 4)
			{
				Dst[0] = bBgr ? Src[0] : Src[2];
				Dst[1] = Src[1];
				Dst[2] = bBgr ? Src[2] : Src[0];
				Dst[3] = Bpp == 4 ? Src[3] : 255;
			}
		}
		Received.Width = Frame.width;
		Received.Height = Frame.height;
	}
	else if (ImageWrappers && Frame.format == facecast::PixelFormat::Jpeg && !Frame.payload.empty())
	{
		// ImageWrapper's JPEG decoder may run on any thread (libjpeg-turbo is thread-safe; its fallback decoder
		// takes a lock). A fresh wrapper per frame: a wrapper holds on to what it decoded. The protocol promises
		// width x height: checked before decoding, so a bad image cannot make us allocate more than that.
		TSharedPtr<IImageWrapper> Jpeg = ImageWrappers->CreateImageWrapper(EImageFormat::JPEG);
		if (Jpeg.IsValid() && Jpeg->SetCompressed(Frame.payload.data(), int64(Frame.payload.size())) &&
		    Jpeg->GetWidth() == int64(Frame.width) && Jpeg->GetHeight() == int64(Frame.height) &&
		    Jpeg->GetRaw(ERGBFormat::BGRA, 8, Received.Bgra) && Received.Bgra.Num() == int64(Frame.width) * Frame.height * 4)
		{
			Received.Width = Frame.width;
			Received.Height = Frame.height;
		}
		else
		{
			Received.Bgra.Empty();
		}
	}
	std::vector<uint8_t>().swap(Frame.payload);  // the game thread needs the parameters only
}
