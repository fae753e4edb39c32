// The receiver's worker thread: owns the transport client and turns each newest frame's picture into tightly
// packed B8G8R8A8 rows off the game thread (JPEG with ImageWrapper, RGB/RGBA/BGRA by swizzling). It keeps
// only the newest result for the game thread and never sees the component, so a component may go away
// while its worker winds down on its own (Retire).
#pragma once

#include "CoreMinimal.h"
#include "FacecastZmtpClient.h"
#include "HAL/CriticalSection.h"
#include "HAL/Runnable.h"

#include <atomic>

class FRunnableThread;
class IImageWrapperModule;

// One received frame as the game thread takes it.
struct FFacecastReceived
{
	facecast::Frame Frame;  // the parameters; its payload is dropped once the picture is made
	uint32 Width = 0, Height = 0;
	TArray64<uint8> Bgra;   // tightly packed B8G8R8A8 rows, top-down; empty without a picture
};

class FFacecastReceiverWorker final : public FRunnable
{
public:
	// Connects to Host:Port and starts the thread; nullptr if no thread could be made. Game thread only: it
	// loads the ImageWrapper module there (bPictures false: the parameter feed, no pixels, no decoding).
	static TSharedPtr<FFacecastReceiverWorker, ESPMode::ThreadSafe> Launch(const FString& Host, uint16 Port, bool bPictures);
	// Asks the worker to stop and returns at once. The worker's thread joins the socket's thread itself; the
	// worker is kept until its thread has ended, then freed by a later Launch, Retire or JoinRetired.
	static void Retire(TSharedPtr<FFacecastReceiverWorker, ESPMode::ThreadSafe> Worker);
	// Module shutdown: waits for every retired worker's thread, so none outlives the module's code.
	static void JoinRetired();

	virtual ~FFacecastReceiverWorker() override;

	// Game thread: moves the newest frame received since the last call into Out; false if none.
	bool TakeLatest(FFacecastReceived& Out);
	facecast::ConnectionState State() const { return Client.State(); }
	std::string LastError() const { return Client.LastError(); }

	// FRunnable: Run on the worker's thread; Stop from any thread.
	virtual uint32 Run() override;
	virtual void Stop() override { bStop = true; }

private:
	explicit FFacecastReceiverWorker(IImageWrapperModule* InImageWrappers);
	void MakePicture(FFacecastReceived& Received) const;
	static void ReapFinished();

	facecast::ZmtpClient Client;
	IImageWrapperModule* const ImageWrappers;  // null: no pictures; loaded on the game thread, used here
	FRunnableThread* Thread = nullptr;
	std::atomic<bool> bStop{false};
	std::atomic<bool> bFinished{false};  // Run has returned
	FCriticalSection Mutex;                // guards the two below
	bool bHasLatest = false;
	FFacecastReceived Latest;
};
